package dev.burrow.core.driver;

/** Outcome of a finished (or timed-out) command. {@code exitCode} is 128+signal when killed. */
public record ExecResult(int exitCode, String stdout, String stderr, boolean timedOut, boolean truncated,
                         long durationMs) {
}
