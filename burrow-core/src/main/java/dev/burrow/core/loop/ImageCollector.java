package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.CachedImage;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.image.ImageCache;

/**
 * Deletes cached images nothing uses: no VM root or snapshot on the host was made from them, no create under way
 * holds them, and no create or pull used them for {@code after}. While any pull is still resolving (its digest not
 * known yet), the pass is skipped: the image it ends in might be one this pass would pick. The default image gets
 * no exemption beyond these rules: while a VM uses it, it is in use; once none does, it ages out like any other
 * and is pulled again by the next create that needs it.
 */
public final class ImageCollector extends FixedIntervalLoop {
    private static final Logger log = LoggerFactory.getLogger(ImageCollector.class);

    private final ImageCache images;
    private final Duration after;

    public ImageCollector(ImageCache images, Duration interval, Duration after) {
        super("image-collector", interval);
        this.images = images;
        this.after = after;
    }

    @Override
    public void runOnce(Instant now) {
        if (after == null || after.isZero() || after.isNegative()) return;
        if (images.anyUnresolved()) return;
        Set<String> held = images.heldDigests();
        for (CachedImage image : images.list()) {
            if (image.inUse() || held.contains(image.digest())) continue;
            if (image.lastUsedAt().plus(after).isAfter(now)) continue;
            try {
                images.delete(image.digest());
                log.info("digest={} refs={} size_bytes={} op=image_gc unused since {}", image.digest(), image.refs(),
                        image.sizeBytes(), image.lastUsedAt());
            } catch (BurrowException e) {
                // taken by a create between the listing and the delete: it stays
                log.info("digest={} op=image_gc skipped: {}", image.digest(), e.getMessage());
            }
        }
    }
}
