package dev.burrow.api;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Burrow's process handles ({@code /v1/vms/{vm_id}/processes}): commands started detached, whose output is kept by
 * the server and streamed to any number of readers, with stdin, signals, resize and wait. Unknown request fields
 * are refused (a misspelt {@code timeoutMs} must not silently mean "no timeout").
 */
public final class ProcessResponses {
    private ProcessResponses() { }

    /**
     * Start a process: {@code command} (run with {@code /bin/sh -c}) or {@code argv}, not both. With {@code tty} it
     * gets a terminal of {@code cols}x{@code rows} (stdout then carries the terminal, stderr stays empty).
     * {@code timeoutMs} kills it when it expires (status {@code timed_out}); without it the process runs until it
     * exits, is signalled or deleted, or its VM stops.
     */
    public record StartProcessRequest(String command, List<String> argv, Map<String, String> env, String workdir,
                                      String user, Boolean tty, Integer cols, Integer rows, Long timeoutMs) { }

    /** Where a stream's kept bytes begin ({@code start}: older ones were dropped) and end (bytes written so far). */
    public record StreamInfo(long start, long end) { }

    /** A process: {@code status} is running, exited, killed or timed_out; {@code exitCode} once it ended. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ProcessInfo(String id, String vmId, String status, List<String> argv, boolean tty, String user,
                              String workdir, Long timeoutMs, Integer exitCode, Instant startedAt, Instant endedAt,
                              StreamInfo stdout, StreamInfo stderr) { }

    public record ListProcessesResponse(List<ProcessInfo> processes) { }

    /**
     * Buffered output from the requested offsets. {@code stdoutOffset}/{@code stderrOffset} say where the returned
     * bytes begin (later than asked when older bytes were dropped); read on from {@code *Next}.
     */
    public record ProcessOutput(String id, String status, Integer exitCode, String encoding, String stdout,
                                long stdoutOffset, long stdoutNext, String stderr, long stderrOffset, long stderrNext,
                                boolean complete) { }

    /** Bytes for stdin ({@code encoding} utf8, the default, or base64); {@code eof} closes stdin after them. */
    public record StdinRequest(String data, String encoding, Boolean eof) { }

    public record StdinResponse(String id, int written, boolean eof) { }

    /** A signal by name ({@code "TERM"}, {@code "SIGINT"}) or number ({@code 15}). */
    public record SignalRequest(Object signal) { }

    public record ResizeRequest(Integer cols, Integer rows) { }
}
