package dev.burrow.core.driver;

import java.time.Instant;
import java.util.List;

/**
 * An image in a driver's local cache. {@code vms} and {@code snapshots} count the sandboxes and snapshots made
 * from it that exist on the host; {@code needed} says whether they still depend on the cached copy (overlay
 * stacks every root on it; a btrfs root is an independent snapshot), i.e. whether deleting it would break them.
 */
public record CachedImage(String digest, List<String> refs, long sizeBytes, Instant lastUsedAt, int vms,
                          int snapshots, boolean needed) {
    public CachedImage {
        refs = refs == null ? List.of() : List.copyOf(refs);
    }

    public boolean inUse() {
        return vms > 0 || snapshots > 0;
    }
}
