package dev.burrow.core.driver;

import java.util.List;
import java.util.Map;

/**
 * A process to start inside a sandbox with its I/O streamed by the caller (SSH sessions, terminals, streaming
 * exec). {@code user} is a user name or {@code uid[:gid]} inside the sandbox, null for the image's default
 * (root). With {@code tty} the process gets a pseudo-terminal of {@code cols}x{@code rows} and {@code term} as
 * TERM; stdout then carries the terminal's output and stderr stays empty.
 */
public record ProcessSpec(List<String> argv, Map<String, String> env, String workdir, String user, boolean tty,
                          int cols, int rows, String term) {
    public ProcessSpec {
        argv = List.copyOf(argv);
        if (argv.isEmpty()) throw new IllegalArgumentException("argv is empty");
        env = env == null ? Map.of() : Map.copyOf(env);
        if (cols <= 0) cols = 80;
        if (rows <= 0) rows = 24;
    }

    /** {@code /bin/sh -c command} without a terminal. */
    public static ProcessSpec shell(String command) {
        return new ProcessSpec(List.of("/bin/sh", "-c", command), Map.of(), null, null, false, 0, 0, null);
    }
}
