package dev.burrow.server.http;

import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;

import dev.burrow.api.ImageApiTypes;
import dev.burrow.core.driver.CachedImage;
import dev.burrow.core.driver.PullProgress;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.image.ImageCache;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * {@code /v1/images}: the node's image cache (what is cached, what uses it, pulls under way), pulling ahead of the
 * creates that will need an image, and deleting an image no VM or snapshot depends on.
 */
public final class ImagesApi implements ApiModule {
    private static final Pattern DIGEST = Pattern.compile("sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}");

    private final LifecycleCoordinator lifecycle;

    public ImagesApi(LifecycleCoordinator lifecycle) {
        this.lifecycle = lifecycle;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, "/v1/images",
                "Cached images (references, digest, size on disk, last use, VMs and snapshots made from them) and the "
                        + "pulls under way with their progress", null, ImageApiTypes.ListImagesResponse.class, Access.API_KEY,
                ctx -> ctx.json(new ImageApiTypes.ListImagesResponse(
                        cache().list().stream().sorted(Comparator.comparing(CachedImage::lastUsedAt).reversed())
                                .map(ImagesApi::cachedInfo).toList(),
                        cache().pulls().stream().map(ImagesApi::pullInfo).toList())));
        table.add(cfg, HandlerType.POST, "/v1/images",
                "Pull an image ahead of the creates that need it (joins a pull of the same reference under way); answers "
                        + "202 at once with the pull, whose progress GET /v1/images shows",
                ImageApiTypes.PullImageRequest.class, ImageApiTypes.ImagePull.class, Access.API_KEY, this::pull);
        table.add(cfg, HandlerType.GET, "/v1/images/{digest}", "A cached image by digest", null,
                ImageApiTypes.CachedImage.class, Access.API_KEY, ctx -> ctx.json(cachedInfo(find(ctx))));
        table.add(cfg, HandlerType.DELETE, "/v1/images/{digest}",
                "Delete a cached image and everything kept for it (409 IMAGE_IN_USE while a VM or snapshot depends on it "
                        + "or a create is using it)", null, ImageApiTypes.DeleteImageResponse.class, Access.API_KEY, ctx -> {
                    CachedImage image = find(ctx);
                    cache().delete(image.digest());
                    ctx.json(new ImageApiTypes.DeleteImageResponse(image.digest(), true));
                });
    }

    private ImageCache cache() {
        return lifecycle.images();
    }

    private void pull(Context ctx) {
        var body = VmRequests.requiredBody(ctx, ImageApiTypes.PullImageRequest.class);
        String image = body.image() == null ? "" : body.image().strip();
        if (image.isEmpty()) throw BurrowException.of(ErrorCode.PULL_IMAGE_BAD_REQUEST, "'image' is required");
        lifecycle.validateImageRef(image);
        ImageCache.Pull pull = cache().pullAhead(image);
        ctx.status(202).json(pullInfo(pull));
    }

    private CachedImage find(Context ctx) {
        String digest = ctx.pathParam("digest");
        if (!DIGEST.matcher(digest).matches()) {
            throw BurrowException.of(ErrorCode.INVALID_IMAGE_DIGEST,
                    "not an image digest: '" + (digest.length() > 80 ? digest.substring(0, 80) + "…" : digest)
                            + "' (expected sha256:<64 hex digits>)");
        }
        return cache().find(digest)
                .orElseThrow(() -> BurrowException.of(ErrorCode.IMAGE_NOT_FOUND, "no cached image " + digest));
    }

    static ImageApiTypes.CachedImage cachedInfo(CachedImage i) {
        return new ImageApiTypes.CachedImage(i.digest(), i.refs(), i.sizeBytes(), i.lastUsedAt(), i.vms(), i.snapshots(),
                i.needed());
    }

    static ImageApiTypes.ImagePull pullInfo(ImageCache.Pull pull) {
        PullProgress p = pull.progress();
        return new ImageApiTypes.ImagePull(pull.image(), p.phase(), known(p.bytesDone()), known(p.bytesTotal()),
                p.layersDone() < 0 ? null : p.layersDone(), p.layersTotal() < 0 ? null : p.layersTotal(),
                pull.startedAt(), pull.imageInfo().map(dev.burrow.core.driver.ImageInfo::digest).orElse(null),
                pull.error().orElse(null));
    }

    private static Long known(long v) {
        return v < 0 ? null : v;
    }

    static List<ImageApiTypes.ImagePull> pulls(ImageCache cache) {
        return cache.pulls().stream().map(ImagesApi::pullInfo).toList();
    }
}
