package dev.burrow.core.vm;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The checks an absolute path inside a VM (a workdir, a home) passes before it reaches a host tool: a path Linux
 * would refuse (a component over NAME_MAX, the whole over PATH_MAX, a NUL) is the client's mistake, reported as such,
 * never the tool's error with its command line.
 */
public final class GuestPath {
    /** NAME_MAX: bytes in one path component. */
    public static final int MAX_COMPONENT_BYTES = 255;
    /** PATH_MAX less the terminating NUL. */
    public static final int MAX_PATH_BYTES = 4095;

    private GuestPath() { }

    /** Why {@code path} is not a usable absolute path, or null when it is. */
    public static String problem(String path) {
        if (path == null || !path.startsWith("/")) return "must be an absolute path";
        if (path.indexOf('\0') >= 0) return "must not contain a NUL byte";
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_PATH_BYTES) {
            return "must be at most " + MAX_PATH_BYTES + " bytes";
        }
        for (String component : path.split("/")) {
            if (component.getBytes(StandardCharsets.UTF_8).length > MAX_COMPONENT_BYTES) {
                return "has a component longer than " + MAX_COMPONENT_BYTES + " bytes";
            }
        }
        return null;
    }

    /**
     * {@code path} without empty and {@code .} components or a trailing slash ({@code //home/./a/} → {@code /home/a}),
     * or null when it is not usable ({@link #problem}) or climbs with {@code ..}.
     */
    public static String normalized(String path) {
        if (problem(path) != null) return null;
        List<String> kept = new ArrayList<>();
        for (String component : path.split("/")) {
            if (component.isEmpty() || component.equals(".")) continue;
            if (component.equals("..")) return null;
            kept.add(component);
        }
        return "/" + String.join("/", kept);
    }
}
