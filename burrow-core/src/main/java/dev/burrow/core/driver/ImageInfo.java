package dev.burrow.core.driver;

import java.util.List;
import java.util.Map;

/** A locally available image: its digest (cache key) and the defaults its config declares. */
public record ImageInfo(String ref, String digest, Map<String, String> env, String workdir, List<String> cmd) {
    public ImageInfo {
        env = env == null ? Map.of() : Map.copyOf(env);
        cmd = cmd == null ? List.of() : List.copyOf(cmd);
    }
}
