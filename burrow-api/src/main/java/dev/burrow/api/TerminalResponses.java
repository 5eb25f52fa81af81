package dev.burrow.api;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;

/** Terminals: the Freestyle shapes (list, logs, xterm-256color) and Burrow's create. */
public final class TerminalResponses {
    private TerminalResponses() { }

    /** {@code GET /v1/vms/{vm_id}/terminals}. */
    public record ListTerminalsResponse(List<TerminalSummary> terminals) { }

    /** {@code status}: running or exited. */
    public record TerminalSummary(String name, String status, Instant created) { }

    /** {@code GET .../logs}: the terminal's text, one entry per line, escape sequences removed. */
    public record TerminalLogsResponse(List<TerminalLogLine> logs) { }

    public record TerminalLogLine(String line, Instant timestamp) { }

    /** {@code GET .../xterm-256color}: the raw terminal output still kept (escape sequences included). */
    public record TerminalOutputResponse(String output) { }

    /**
     * {@code POST /v1/vms/{vm_id}/terminals} (Burrow): a named shell with a terminal. {@code command} (run with
     * {@code /bin/sh -c}) replaces the login shell.
     */
    public record CreateTerminalRequest(String name, String command, Integer cols, Integer rows, String user,
                                        Map<String, String> env, String workdir) { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record TerminalInfo(String name, String status, Instant created, Integer exitCode, String websocket) { }
}
