package dev.burrow.api;

import java.time.Instant;
import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;

/** Burrow's own images resource ({@code /v1/images}) and the pull progress a VM in status {@code pulling} shows. */
public final class ImageApiTypes {
    private ImageApiTypes() { }

    /**
     * A pull under way (or just finished): {@code bytesTotal} is the sum of the layer sizes the manifest declares,
     * {@code bytesDone} what has been fetched so far, measured on disk; counts the source cannot tell are absent.
     * {@code phase}: queued, resolving, pulling, unpacking, building, ready or failed.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ImagePull(String image, String phase, Long bytesDone, Long bytesTotal, Integer layersDone,
                            Integer layersTotal, Instant startedAt, String digest, String error) { }

    /**
     * A cached image: the references that resolved to it, its unpacked size, when a create last used it, and the
     * VMs and snapshots made from it on this host; {@code needed} when they depend on the cached copy (overlay
     * storage), so deleting it is refused.
     */
    public record CachedImage(String digest, List<String> refs, long sizeBytes, Instant lastUsedAt, int vms,
                              int snapshots, boolean needed) { }

    public record ListImagesResponse(List<CachedImage> images, List<ImagePull> pulls) { }

    public record PullImageRequest(String image) { }

    public record DeleteImageResponse(String digest, boolean deleted) { }
}
