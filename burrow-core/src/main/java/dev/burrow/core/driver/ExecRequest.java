package dev.burrow.core.driver;

import java.time.Duration;
import java.util.Map;

/**
 * A command run with {@code /bin/sh -c} inside the sandbox. {@code timeout} null means no limit;
 * output beyond {@code maxOutputBytes} per stream is dropped and flagged.
 */
public record ExecRequest(String command, Map<String, String> env, String workdir, Duration timeout,
                          byte[] stdin, int maxOutputBytes) {
    public static final int DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

    public ExecRequest {
        env = env == null ? Map.of() : Map.copyOf(env);
        if (maxOutputBytes <= 0) maxOutputBytes = DEFAULT_MAX_OUTPUT;
    }

    public static ExecRequest of(String command, Duration timeout) {
        return new ExecRequest(command, Map.of(), null, timeout, null, DEFAULT_MAX_OUTPUT);
    }
}
