package dev.burrow.driver.runc.internal;

import dev.burrow.core.driver.ImageFacet.ProgressListener;

/**
 * Resolves an image reference to an unpacked root filesystem, fetching and unpacking it at most once per
 * digest. References:
 * <ul>
 *   <li>{@code builtin:debian} — a Debian bookworm minbase root filesystem built with debootstrap from
 *       Debian's packages (works offline from the internet except the Debian mirror apt already uses);</li>
 *   <li>{@code builtin:busybox} — a tiny root filesystem from the host's static busybox;</li>
 *   <li>{@code oci:/path/to/layout[:tag]} — a local OCI image layout;</li>
 *   <li>{@code docker://host/repo:tag}, {@code host:port/repo@sha256:…}, {@code library/debian:12} —
 *       a registry reference fetched with skopeo.</li>
 * </ul>
 */
public interface ImageStore {
    UnpackedImage prepare(String ref, ProgressListener progress);

    /** The already-prepared image for a reference, or null if it was never prepared here. */
    UnpackedImage find(String ref);

    /**
     * Refuses a reference this store would refuse to prepare, without preparing it (a bad request before any VM
     * exists): by default only its syntax.
     */
    default void validate(String ref) {
        ImageRef.parse(ref);
    }

    /** Every complete image in the cache. */
    default java.util.List<Cached> cached() {
        return java.util.List.of();
    }

    /** Removes an image and everything kept for it; succeeds when it is not cached. */
    default void delete(String digest) {
        throw new UnsupportedOperationException("this image store cannot delete images");
    }

    /** One cached image: its digest, the references that resolved to it, bytes on disk and when it was last used. */
    record Cached(String digest, java.util.List<String> refs, long sizeBytes, java.time.Instant lastUsedAt) {
        public Cached {
            refs = refs == null ? java.util.List.of() : java.util.List.copyOf(refs);
        }
    }
}
