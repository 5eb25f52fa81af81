package dev.burrow.core.driver;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * What a server hands a {@link DriverProvider}: where the driver may keep state and its own options.
 *
 * @param dataDir  a directory that is the driver's alone (per-VM state, bundles, disks)
 * @param imageDir the image cache; may be shared between servers on one host
 * @param nodeId   this server's short id: everything the driver makes on the host is namespaced by it, so two servers
 *                 (or test runs) on one host never see each other's sandboxes
 * @param options  the driver's own settings by name (each provider documents its keys); absent keys take the driver's
 *                 defaults
 */
public record DriverContext(Path dataDir, Path imageDir, String nodeId, Map<String, String> options) {
    public DriverContext {
        Objects.requireNonNull(dataDir, "dataDir");
        Objects.requireNonNull(imageDir, "imageDir");
        Objects.requireNonNull(nodeId, "nodeId");
        options = options == null ? Map.of() : Map.copyOf(options);
    }

    /** The option's value, or {@code fallback} when it is not given. */
    public String option(String key, String fallback) {
        return options.getOrDefault(key, fallback);
    }
}
