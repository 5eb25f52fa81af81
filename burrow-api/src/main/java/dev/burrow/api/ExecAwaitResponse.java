package dev.burrow.api;

/** {@code statusCode} is the exit code (the SDK's fs helpers test it against 0). */
public record ExecAwaitResponse(String stdout, String stderr, int statusCode, boolean timedOut, boolean truncated) {
}
