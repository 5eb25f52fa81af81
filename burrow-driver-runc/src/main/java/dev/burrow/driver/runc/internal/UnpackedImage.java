package dev.burrow.driver.runc.internal;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * An image unpacked once on the host, keyed by digest. {@code rootfs} is shared read-only by every VM made
 * from it (the lower layer of their root filesystems) and must never be written.
 */
public record UnpackedImage(String ref, String digest, Path rootfs, Map<String, String> env, String workdir,
                            List<String> cmd, String user) {
    public UnpackedImage {
        env = env == null ? Map.of() : Map.copyOf(env);
        cmd = cmd == null ? List.of() : List.copyOf(cmd);
    }
}
