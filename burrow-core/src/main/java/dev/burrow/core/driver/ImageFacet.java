package dev.burrow.core.driver;

import java.util.List;

/**
 * A driver's local image cache: fetch, unpack and keep images by digest. A driver without it takes image references
 * as they are ({@link SandboxDriver#create} gets the reference itself): nothing to prepare, validate or list.
 */
public interface ImageFacet {

    /**
     * Makes an image available locally (fetch, unpack, cache by digest) and returns what it resolved to. Idempotent
     * and safe to call concurrently for the same reference.
     */
    ImageInfo prepareImage(String imageRef, ProgressListener progress);

    /** Refuses a malformed image reference (BAD_REQUEST); looks nothing up. */
    void validateImageRef(String imageRef);

    /**
     * Whether {@code imageRef} is already in the local cache, so a create needs no fetch (answered from local state
     * only, without asking a registry).
     */
    boolean imageCached(String imageRef);

    /** The images in the local cache, with what uses them. */
    List<CachedImage> cachedImages();

    /**
     * Removes a cached image and everything kept for it (unpacked tree, blobs, base volumes). Refuses with a CONFLICT
     * {@code IMAGE_IN_USE} when a sandbox or snapshot still depends on it. Succeeds when it is not cached.
     */
    void deleteImage(String digest);

    /** Reports image preparation progress: a phase name and a fraction in [0,1], or -1 when unknown. */
    @FunctionalInterface
    interface ProgressListener {
        ProgressListener NONE = (phase, fraction) -> { };

        void progress(String phase, double fraction);

        /** Measured byte and layer counts while an image is fetched; drivers that cannot tell never call it. */
        default void pull(PullProgress progress) { }
    }
}
