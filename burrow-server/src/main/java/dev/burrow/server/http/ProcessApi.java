package dev.burrow.server.http;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;

import dev.burrow.api.ProcessResponses.ListProcessesResponse;
import dev.burrow.api.ProcessResponses.ProcessInfo;
import dev.burrow.api.ProcessResponses.ProcessOutput;
import dev.burrow.api.ProcessResponses.ResizeRequest;
import dev.burrow.api.ProcessResponses.SignalRequest;
import dev.burrow.api.ProcessResponses.StartProcessRequest;
import dev.burrow.api.ProcessResponses.StdinRequest;
import dev.burrow.api.ProcessResponses.StdinResponse;
import dev.burrow.api.ProcessResponses.StreamInfo;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.process.ManagedProcess;
import dev.burrow.core.process.OutputBuffer;
import dev.burrow.core.process.ProcessManager;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import io.javalin.http.sse.SseClient;
import io.javalin.http.sse.SseHandler;

/**
 * {@code /v1/vms/{vm_id}/processes}: Burrow's streaming exec with handles. A process is started detached and kept
 * by the server; clients read its output (as JSON or as a server-sent-event stream they can resume), write its
 * stdin, signal it, resize its terminal and wait for it. A client going away never ends a process.
 */
public final class ProcessApi implements ApiModule {
    private static final String BASE = "/v1/vms/{vm_id}/processes";
    private static final String ONE = BASE + "/{process_id}";
    private static final Duration MAX_TIMEOUT = Duration.ofHours(24);
    private static final Duration MAX_WAIT = Duration.ofMinutes(5);
    private static final Duration DEFAULT_WAIT = Duration.ofSeconds(30);
    private static final Duration KEEPALIVE = Duration.ofSeconds(15);
    private static final int MAX_CHUNK = 64 * 1024;
    private static final int MAX_STDIN_BYTES = 1024 * 1024;
    private static final Map<String, Integer> SIGNALS = Map.ofEntries(Map.entry("HUP", 1), Map.entry("INT", 2),
            Map.entry("QUIT", 3), Map.entry("ABRT", 6), Map.entry("KILL", 9), Map.entry("USR1", 10),
            Map.entry("USR2", 12), Map.entry("PIPE", 13), Map.entry("ALRM", 14), Map.entry("TERM", 15),
            Map.entry("CONT", 18), Map.entry("STOP", 19), Map.entry("TSTP", 20), Map.entry("WINCH", 28));

    /** The framing of the output stream, also in README's API notes. */
    static final String STREAM_DOC = "Output. With 'Accept: text/event-stream': server-sent events 'stdout' and 'stderr' "
            + "(data {offset, data}: the bytes' offset in their stream and the bytes, utf8 text or base64 per ?encoding=), "
            + "'dropped' (data {stream, from, to}: bytes no longer kept, skipped), a ': keepalive' comment every 15 s, "
            + "and a final 'exit' (data: the process) after all output, then the stream ends. Every event's id is "
            + "'<stdout offset>,<stderr offset>' read so far; reconnect with Last-Event-ID (or ?since=<o>,<e>) to resume "
            + "exactly where it stopped. Otherwise JSON: the bytes kept from ?since= (up to ?maxBytes= per stream).";

    private final LifecycleCoordinator lifecycle;
    private final ProcessManager processes;

    public ProcessApi(LifecycleCoordinator lifecycle, ProcessManager processes) {
        this.lifecycle = lifecycle;
        this.processes = processes;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.POST, BASE, "Start a process detached: {command} (via /bin/sh -c) or {argv}, env, workdir, "
                + "user, tty, cols, rows, timeoutMs (kills it when it expires; status timed_out). Answers the process; "
                + "a suspended VM is resumed first", StartProcessRequest.class, ProcessInfo.class, Access.API_KEY, this::start);
        table.add(cfg, HandlerType.GET, BASE, "List the VM's processes: running ones and recently ended ones (kept for late readers)",
                null, ListProcessesResponse.class, Access.API_KEY, ctx -> {
                    String vmId = vm(ctx);
                    ctx.json(new ListProcessesResponse(processes.list(vmId).stream().map(ProcessApi::info).toList()));
                });
        table.add(cfg, HandlerType.GET, ONE, "A process: status running, exited, killed or timed_out; exitCode once ended",
                null, ProcessInfo.class, Access.API_KEY, ctx -> ctx.json(info(process(ctx))));
        table.add(cfg, HandlerType.DELETE, ONE, "Kill the process (and what it started) if it runs, and forget it", null,
                ProcessInfo.class, Access.API_KEY, this::delete);
        table.add(cfg, HandlerType.GET, ONE + "/output", STREAM_DOC, null, ProcessOutput.class, Access.API_KEY, this::output);
        table.add(cfg, HandlerType.POST, ONE + "/stdin", "Write to stdin: {data, encoding: utf8|base64, eof} (eof closes "
                + "stdin after the data; on a terminal it types Ctrl-D)", StdinRequest.class, StdinResponse.class, Access.API_KEY, this::stdin);
        table.add(cfg, HandlerType.POST, ONE + "/signal", "Send a signal: {signal: \"TERM\" | 15}", SignalRequest.class,
                ProcessInfo.class, Access.API_KEY, this::signal);
        table.add(cfg, HandlerType.POST, ONE + "/wait", "Wait for the process to end (?timeoutMs=, default 30000, at most "
                + "300000); answers the process, still running if it did not end in time", null, ProcessInfo.class, Access.API_KEY, this::await);
        table.add(cfg, HandlerType.POST, ONE + "/resize", "Resize a tty process's terminal: {cols, rows}", ResizeRequest.class,
                ProcessInfo.class, Access.API_KEY, ctx -> {
                    ManagedProcess p = process(ctx);
                    ResizeRequest r = VmRequests.requiredBody(ctx, ResizeRequest.class);
                    p.resize(size(r.cols(), "cols", 80), size(r.rows(), "rows", 24));
                    ctx.json(info(p));
                });
    }

    // ---- handlers ----

    private void start(Context ctx) {
        String vmId = vm(ctx);
        StartProcessRequest r = VmRequests.requiredBody(ctx, StartProcessRequest.class);
        List<String> argv;
        if (r.command() != null && r.argv() != null) throw bad("give either 'command' or 'argv', not both");
        if (r.command() != null) {
            if (r.command().isEmpty()) throw bad("'command' must be a non-empty string");
            argv = List.of("/bin/sh", "-c", r.command());
        } else if (r.argv() != null) {
            if (r.argv().isEmpty() || r.argv().stream().anyMatch(a -> a == null)) throw bad("'argv' must be a non-empty list of strings");
            argv = r.argv();
        } else {
            throw bad("'command' or 'argv' is required");
        }
        for (String a : argv) if (a.indexOf('\0') >= 0) throw bad("the command must not contain NUL bytes");
        if (r.env() != null) {
            for (var e : r.env().entrySet()) {
                if (e.getKey().isEmpty() || e.getKey().contains("=") || e.getKey().indexOf('\0') >= 0
                        || e.getValue() == null || e.getValue().indexOf('\0') >= 0) {
                    throw bad("invalid env entry '" + e.getKey() + "': names must be non-empty without '=' and values non-null");
                }
            }
        }
        if (r.user() != null && (r.user().isBlank() || r.user().length() > 256)) throw bad("'user' must be a user name or uid[:gid]");
        if (r.workdir() != null && GuestPath.problem(r.workdir()) != null) {
            throw bad("'workdir' " + GuestPath.problem(r.workdir()));
        }
        boolean tty = Boolean.TRUE.equals(r.tty());
        if (!tty && (r.cols() != null || r.rows() != null)) throw bad("'cols' and 'rows' apply with tty: true only");
        Duration timeout = null;
        if (r.timeoutMs() != null) {
            if (r.timeoutMs() <= 0) throw bad("'timeoutMs' must be a positive number of milliseconds");
            if (r.timeoutMs() > MAX_TIMEOUT.toMillis()) throw bad("'timeoutMs' must be at most " + MAX_TIMEOUT.toMillis() + " (24 h)");
            timeout = Duration.ofMillis(r.timeoutMs());
        }
        // without a user: the VM's default (a Dockerfile USER of the snapshot it was made from), else root
        String user = r.user() != null ? r.user() : VmRequests.defaultUser(lifecycle, vmId);
        ProcessSpec spec = new ProcessSpec(argv, r.env(), r.workdir(), user, tty, tty ? size(r.cols(), "cols", 80) : 0,
                tty ? size(r.rows(), "rows", 24) : 0, null);
        ManagedProcess p = processes.start(vmId, spec, timeout);
        ctx.json(info(p));
    }

    private void delete(Context ctx) throws InterruptedException {
        String vmId = vm(ctx);
        ManagedProcess p = processes.remove(vmId, ctx.pathParam("process_id"));
        p.awaitEnd(Duration.ofSeconds(5));
        ctx.json(info(p));
    }

    private void stdin(Context ctx) {
        ManagedProcess p = process(ctx);
        StdinRequest r = VmRequests.requiredBody(ctx, StdinRequest.class);
        byte[] data = new byte[0];
        if (r.data() != null) {
            OutputEncoding enc = OutputEncoding.of(r.encoding());
            if (enc == OutputEncoding.BASE64) {
                try {
                    data = Base64.getDecoder().decode(r.data().replaceAll("[\\r\\n]", ""));
                } catch (IllegalArgumentException e) {
                    throw bad("'data' is not valid base64: " + e.getMessage());
                }
            } else {
                data = r.data().getBytes(StandardCharsets.UTF_8);
            }
        }
        if (data.length > MAX_STDIN_BYTES) throw bad("at most " + MAX_STDIN_BYTES + " bytes of stdin per request");
        boolean eof = Boolean.TRUE.equals(r.eof());
        if (data.length == 0 && !eof) throw bad("send 'data', 'eof': true, or both");
        if (data.length > 0) p.write(data);
        if (eof) p.closeStdin();
        ctx.json(new StdinResponse(p.id(), data.length, eof));
    }

    private void signal(Context ctx) {
        ManagedProcess p = process(ctx);
        SignalRequest r = VmRequests.requiredBody(ctx, SignalRequest.class);
        p.signal(signalNumber(r.signal()));
        ctx.json(info(p));
    }

    private void await(Context ctx) throws InterruptedException {
        ManagedProcess p = process(ctx);
        Duration wait = DEFAULT_WAIT;
        String t = ctx.queryParam("timeoutMs");
        if (t != null) {
            try {
                long ms = Long.parseLong(t);
                if (ms < 0 || ms > MAX_WAIT.toMillis()) throw new NumberFormatException();
                wait = Duration.ofMillis(ms);
            } catch (NumberFormatException e) {
                throw bad("'timeoutMs' must be an integer between 0 and " + MAX_WAIT.toMillis());
            }
        }
        p.awaitEnd(wait);
        ctx.json(info(p));
    }

    private void output(Context ctx) {
        ManagedProcess p = process(ctx);
        OutputEncoding enc = OutputEncoding.of(ctx.queryParam("encoding"));
        String accept = ctx.header("Accept");
        boolean sse = accept != null && accept.contains("text/event-stream");
        String cursor = ctx.queryParam("since");
        if (sse && cursor == null) cursor = ctx.header("Last-Event-ID");
        long[] from = parseCursor(cursor);
        if (sse) {
            new SseHandler(client -> stream(client, p, enc, from)).handle(ctx);
            return;
        }
        int max = MAX_CHUNK * 16;
        String mb = ctx.queryParam("maxBytes");
        if (mb != null) {
            try {
                max = Integer.parseInt(mb);
                if (max < 1 || max > 16 * 1024 * 1024) throw new NumberFormatException();
            } catch (NumberFormatException e) {
                throw bad("'maxBytes' must be an integer between 1 and " + 16 * 1024 * 1024);
            }
        }
        boolean finished = p.finished(); // read before the buffers: then nothing written before it is missed
        Piece out = piece(p.stdout(), from[0], max, enc);
        Piece err = piece(p.stderr(), from[1], max, enc);
        boolean complete = finished && out.next == p.stdout().end() && err.next == p.stderr().end();
        p.touch();
        ctx.json(new ProcessOutput(p.id(), p.status().wireName(), p.exitCode(), enc.wireName(), out.text, out.offset,
                out.next, err.text, err.offset, err.next, complete));
    }

    private record Piece(String text, long offset, long next) { }

    private static Piece piece(OutputBuffer buf, long from, int max, OutputEncoding enc) {
        OutputBuffer.Chunk c = buf.read(from, max);
        boolean more = !buf.closed() || c.next() < buf.end();
        int n = enc.sendable(c.data(), more);
        return new Piece(enc.encode(c.data(), n), c.offset(), c.offset() + n);
    }

    /**
     * One SSE subscriber: sends what it has not seen, waits for more, ends with 'exit'. Runs on Javalin's async
     * executor for as long as the client stays; a write to a gone client ends it (the process is untouched).
     */
    private static void stream(SseClient client, ManagedProcess p, OutputEncoding enc, long[] from) {
        long[] at = {from[0], from[1]};
        OutputBuffer[] bufs = {p.stdout(), p.stderr()};
        String[] names = {"stdout", "stderr"};
        client.sendComment("process " + p.id());
        try {
            while (!client.terminated()) {
                long seen = p.changes().version();
                boolean finished = p.finished();
                boolean sent = false;
                for (int s = 0; s < 2; s++) {
                    OutputBuffer buf = bufs[s];
                    OutputBuffer.Chunk c = buf.read(at[s], MAX_CHUNK);
                    if (c.offset() < at[s]) at[s] = c.offset(); // asked beyond the end: from the end
                    if (c.offset() > at[s]) {
                        send(client, "dropped", Map.of("stream", names[s], "from", at[s], "to", c.offset()), at, s, c.offset());
                    }
                    boolean more = !buf.closed() || c.next() < buf.end();
                    int n = enc.sendable(c.data(), more);
                    if (n > 0) {
                        Map<String, Object> data = new LinkedHashMap<>();
                        data.put("offset", c.offset());
                        data.put("data", enc.encode(c.data(), n));
                        send(client, names[s], data, at, s, c.offset() + n);
                        sent = true;
                    }
                }
                if (sent) {
                    p.touch();
                    continue;
                }
                if (finished && at[0] == bufs[0].end() && at[1] == bufs[1].end()) {
                    send(client, "exit", info(p), at, 0, at[0]);
                    return;
                }
                if (p.changes().await(seen, KEEPALIVE) == seen) client.sendComment("keepalive");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void send(SseClient client, String event, Object data, long[] at, int stream, long next) {
        at[stream] = next;
        String json;
        try {
            json = Json.MAPPER.writeValueAsString(data);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        client.sendEvent(event, json, at[0] + "," + at[1]);
    }

    // ---- helpers ----

    private String vm(Context ctx) {
        String vmId = VmRequests.vmId(ctx);
        lifecycle.get(vmId); // 404 for an unknown VM before anything else
        return vmId;
    }

    private ManagedProcess process(Context ctx) {
        return processes.get(vm(ctx), ctx.pathParam("process_id"));
    }

    static ProcessInfo info(ManagedProcess p) {
        return new ProcessInfo(p.id(), p.vmId(), p.status().wireName(), p.argv(), p.tty(), p.user(), p.workdir(),
                p.timeout() == null ? null : p.timeout().toMillis(), p.exitCode(), p.startedAt(), p.endedAt(),
                new StreamInfo(p.stdout().start(), p.stdout().end()), new StreamInfo(p.stderr().start(), p.stderr().end()));
    }

    /** {@code "<stdout>,<stderr>"} or {@code "<stdout>"}: offsets to resume from; none means from the oldest kept byte. */
    static long[] parseCursor(String cursor) {
        if (cursor == null || cursor.isBlank()) return new long[] {0, 0};
        String[] parts = cursor.strip().split(",", -1);
        if (parts.length > 2) throw bad("a cursor is '<stdout offset>,<stderr offset>', got '" + cursor + "'");
        long[] at = new long[2];
        try {
            for (int i = 0; i < parts.length; i++) {
                at[i] = Long.parseLong(parts[i].strip());
                if (at[i] < 0) throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw bad("a cursor is '<stdout offset>,<stderr offset>' (non-negative integers), got '" + cursor + "'");
        }
        return at;
    }

    static int signalNumber(Object sig) {
        if (sig instanceof Integer n) {
            if (n < 1 || n > 64) throw bad("'signal' must be between 1 and 64, got " + n);
            return n;
        }
        if (sig instanceof String s && !s.isBlank()) {
            String name = s.strip().toUpperCase(Locale.ROOT);
            if (name.startsWith("SIG")) name = name.substring(3);
            Integer n = SIGNALS.get(name);
            if (n != null) return n;
            if (name.matches("\\d{1,2}")) return signalNumber(Integer.parseInt(name));
            throw bad("unknown signal '" + s + "' (use one of " + new ArrayList<>(new java.util.TreeSet<>(SIGNALS.keySet())) + " or a number)");
        }
        throw bad("'signal' is required: a name such as \"TERM\" or a number such as 15");
    }

    static int size(Integer v, String field, int dflt) {
        if (v == null) return dflt;
        if (v < 1 || v > 1000) throw bad("'" + field + "' must be between 1 and 1000, got " + v);
        return v;
    }

    private static BurrowException bad(String message) {
        return BurrowException.of(ErrorCode.BAD_REQUEST, message);
    }
}
