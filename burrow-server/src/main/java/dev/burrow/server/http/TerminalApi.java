package dev.burrow.server.http;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.api.TerminalResponses.CreateTerminalRequest;
import dev.burrow.api.TerminalResponses.ListTerminalsResponse;
import dev.burrow.api.TerminalResponses.TerminalInfo;
import dev.burrow.api.TerminalResponses.TerminalLogLine;
import dev.burrow.api.TerminalResponses.TerminalLogsResponse;
import dev.burrow.api.TerminalResponses.TerminalOutputResponse;
import dev.burrow.api.TerminalResponses.TerminalSummary;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.process.ManagedProcess;
import dev.burrow.core.process.OutputBuffer;
import dev.burrow.core.process.TerminalManager;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import io.javalin.websocket.WsConfig;
import io.javalin.websocket.WsContext;

/**
 * {@code /v1/vms/{vm_id}/terminals}: the Freestyle terminal routes (list, logs, xterm-256color), Burrow's create and
 * delete, and a WebSocket for browser terminals (xterm.js): see {@link #WS_DOC}.
 */
public final class TerminalApi implements ApiModule {
    private static final Logger log = LoggerFactory.getLogger(TerminalApi.class);
    private static final String BASE = "/v1/vms/{vm_id}/terminals";
    private static final String ONE = BASE + "/{terminal_id}";
    private static final int FRAME_BYTES = 32 * 1024;
    /** Scrollback replayed to a viewer that attaches. */
    static final int REPLAY_BYTES = 64 * 1024;

    static final String WS_DOC = "WebSocket (upgrade; authenticate with the Authorization header or, from a browser, "
            + "?access_token=<API key, or an identity token that may access the VM as the terminal's user>). Server to client: binary frames of raw terminal output (the last 64 KiB of scrollback "
            + "first), and a final text frame {type: exit, exitCode} before a normal close when the shell ends. Client to "
            + "server: binary frames are keystrokes; text frames are JSON {type: resize, cols, rows} or {type: input, data}. "
            + "Any number of viewers may attach; one leaving does not end the terminal";

    private final LifecycleCoordinator lifecycle;
    private final TerminalManager terminals;
    private final dev.burrow.core.access.VmAccess access;
    private static final java.util.regex.Pattern WS_PATH = java.util.regex.Pattern.compile("/v1/vms/([a-z0-9]+)/terminals/([^/]+)/ws");

    public TerminalApi(LifecycleCoordinator lifecycle, TerminalManager terminals, dev.burrow.core.access.VmAccess access) {
        this.lifecycle = lifecycle;
        this.terminals = terminals;
        this.access = access;
    }

    /**
     * A browser attaching to a terminal may use an identity token (the one it would use for SSH) instead of the API
     * key: admitted when the identity may access that VM as the terminal's user. Nothing else accepts such a token.
     */
    public boolean acceptsIdentityToken(io.javalin.http.Context ctx, String token) {
        var m = WS_PATH.matcher(ctx.path());
        if (!m.matches()) return false;
        dev.burrow.core.process.ManagedProcess t;
        try {
            t = terminals.get(m.group(1), m.group(2));
        } catch (BurrowException unknown) {
            return false;
        }
        return access.checkToken(m.group(1), token, t.user() != null ? t.user() : "root").granted();
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, BASE, "List the VM's terminals", null, ListTerminalsResponse.class, Access.API_KEY, ctx -> {
            String vmId = vm(ctx);
            ctx.json(new ListTerminalsResponse(terminals.list(vmId).stream()
                    .map(t -> new TerminalSummary(t.id(), status(t), t.startedAt())).toList()));
        });
        table.add(cfg, HandlerType.POST, BASE, "Open a named terminal: a login shell (or {command} via /bin/sh -c) with a "
                + "pty of {cols}x{rows}; attach to it at .../{name}/ws", CreateTerminalRequest.class, TerminalInfo.class,
                Access.API_KEY, this::create);
        table.add(cfg, HandlerType.DELETE, ONE, "End the terminal's shell and forget the terminal", null, TerminalInfo.class,
                Access.API_KEY, ctx -> {
                    String vmId = vm(ctx);
                    ManagedProcess t = terminals.remove(vmId, ctx.pathParam("terminal_id"));
                    t.awaitEnd(Duration.ofSeconds(5));
                    ctx.json(info(t));
                });
        table.add(cfg, HandlerType.GET, ONE + "/logs", "The terminal's text, one entry per line with the time it was "
                + "written (escape sequences removed; the last 5000 lines)", null, TerminalLogsResponse.class, Access.API_KEY, ctx -> {
                    ManagedProcess t = terminal(ctx);
                    ctx.json(new TerminalLogsResponse(TerminalManager.logOf(t).lines().stream()
                            .map(l -> new TerminalLogLine(l.line(), l.timestamp())).toList()));
                });
        table.add(cfg, HandlerType.GET, ONE + "/xterm-256color", "The terminal's raw output still kept (escape sequences "
                + "included), to replay into a terminal emulator", null, TerminalOutputResponse.class, Access.API_KEY, ctx -> {
                    ManagedProcess t = terminal(ctx);
                    OutputBuffer out = t.stdout();
                    OutputBuffer.Chunk c = out.read(-1, out.capacity());
                    ctx.json(new TerminalOutputResponse(new String(c.data(), StandardCharsets.UTF_8)));
                });
        table.addWs(cfg, ONE + "/ws", WS_DOC, Access.API_KEY, this::websocket);
    }

    private void create(Context ctx) {
        String vmId = vm(ctx);
        CreateTerminalRequest r = VmRequests.optionalBody(ctx, CreateTerminalRequest.class);
        if (r == null) r = new CreateTerminalRequest(null, null, null, null, null, null, null);
        if (r.command() != null && (r.command().isEmpty() || r.command().indexOf('\0') >= 0)) {
            throw BurrowException.of(ErrorCode.BAD_REQUEST, "'command' must be a non-empty string without NUL bytes");
        }
        if (r.user() != null && (r.user().isBlank() || r.user().length() > 256)) {
            throw BurrowException.of(ErrorCode.BAD_REQUEST, "'user' must be a user name or uid[:gid]");
        }
        if (r.workdir() != null && GuestPath.problem(r.workdir()) != null) {
            throw BurrowException.of(ErrorCode.BAD_REQUEST, "'workdir' " + GuestPath.problem(r.workdir()));
        }
        if (r.env() != null) {
            for (var e : r.env().entrySet()) {
                if (e.getKey().isEmpty() || e.getKey().contains("=") || e.getKey().indexOf('\0') >= 0
                        || e.getValue() == null || e.getValue().indexOf('\0') >= 0) {
                    throw BurrowException.of(ErrorCode.BAD_REQUEST, "invalid env entry '" + e.getKey() + "'");
                }
            }
        }
        ManagedProcess t = terminals.open(vmId, r.name(), r.command(), ProcessApi.size(r.cols(), "cols", 80),
                ProcessApi.size(r.rows(), "rows", 24), r.user() != null ? r.user() : VmRequests.defaultUser(lifecycle, vmId),
                r.env(), r.workdir());
        ctx.json(info(t));
    }

    // ---- WebSocket ----

    private void websocket(WsConfig ws) {
        ws.onConnect(ctx -> {
            ManagedProcess t;
            try {
                String vmId = ctx.pathParam("vm_id");
                lifecycle.get(vmId);
                t = terminals.get(vmId, ctx.pathParam("terminal_id"));
            } catch (BurrowException e) {
                ctx.closeSession(4404, e.code());
                return;
            }
            Viewer v = new Viewer(ctx, t);
            ctx.attribute("viewer", v);
            ctx.session.setIdleTimeout(Duration.ZERO);
            ctx.enableAutomaticPings(30, TimeUnit.SECONDS);
            Thread.ofVirtual().name("burrow-term-viewer-" + t.id() + "-" + ctx.sessionId()).start(v::run);
        });
        ws.onBinaryMessage(ctx -> {
            Viewer v = ctx.attribute("viewer");
            if (v == null) return;
            ByteBuffer data = ctx.data().duplicate();
            byte[] b = new byte[data.remaining()];
            data.get(b);
            v.input(b);
        });
        ws.onMessage(ctx -> {
            Viewer v = ctx.attribute("viewer");
            if (v == null) return;
            v.control(ctx.message());
        });
        ws.onClose(ctx -> {
            Viewer v = ctx.attribute("viewer");
            if (v != null) v.stop();
        });
        ws.onError(ctx -> {
            Viewer v = ctx.attribute("viewer");
            if (v != null) v.stop();
        });
    }

    /** One attached browser: sends the terminal's output from its own cursor; its input goes to the shell. */
    private static final class Viewer {
        private final WsContext ctx;
        private final ManagedProcess t;
        private volatile boolean stopped;

        Viewer(WsContext ctx, ManagedProcess t) {
            this.ctx = ctx;
            this.t = t;
        }

        void run() {
            OutputBuffer out = t.stdout();
            long at = Math.max(out.start(), out.end() - REPLAY_BYTES);
            try {
                while (!stopped && ctx.session.isOpen()) {
                    long seen = t.changes().version();
                    boolean finished = t.finished();
                    OutputBuffer.Chunk c = out.read(at, FRAME_BYTES);
                    if (c.data().length > 0) {
                        if (!send(ByteBuffer.wrap(c.data()))) return;
                        at = c.next();
                        t.touch();
                        continue;
                    }
                    at = c.offset();
                    if (finished) {
                        sendText(Json.MAPPER.writeValueAsString(Map.of("type", "exit", "exitCode",
                                t.exitCode() == null ? -1 : t.exitCode())));
                        ctx.closeSession(1000, "terminal ended");
                        return;
                    }
                    t.changes().await(seen, Duration.ofSeconds(30));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                log.debug("terminal viewer of {} ended: {}", t.id(), e.toString());
            }
        }

        void input(byte[] keys) {
            try {
                t.write(keys);
            } catch (BurrowException e) {
                // the shell has ended; the exit frame is on its way
            }
        }

        void control(String message) {
            JsonNode m;
            try {
                m = Json.MAPPER.readTree(message);
            } catch (Exception e) {
                error("not JSON: a text frame is {\"type\":\"resize\",\"cols\":n,\"rows\":n} or {\"type\":\"input\",\"data\":\"...\"}");
                return;
            }
            String type = m == null ? null : m.path("type").asText(null);
            if ("resize".equals(type)) {
                int cols = m.path("cols").asInt(0);
                int rows = m.path("rows").asInt(0);
                if (cols < 1 || cols > 1000 || rows < 1 || rows > 1000) {
                    error("resize needs cols and rows between 1 and 1000");
                    return;
                }
                t.resize(cols, rows);
            } else if ("input".equals(type) && m.path("data").isTextual()) {
                input(m.path("data").asText().getBytes(StandardCharsets.UTF_8));
            } else {
                error("unknown control message: use {\"type\":\"resize\",\"cols\":n,\"rows\":n} or {\"type\":\"input\",\"data\":\"...\"}");
            }
        }

        private void error(String message) {
            try {
                sendText(Json.MAPPER.writeValueAsString(Map.of("type", "error", "message", message)));
            } catch (Exception ignored) {
                // the viewer is gone
            }
        }

        /** One frame at a time per viewer, each waited for: a slow browser slows only its own cursor. */
        private synchronized boolean send(ByteBuffer frame) {
            return complete(cb -> ctx.session.sendBinary(frame, cb));
        }

        private synchronized void sendText(String text) {
            complete(cb -> ctx.session.sendText(text, cb));
        }

        private boolean complete(java.util.function.Consumer<Callback> op) {
            Callback.Completable done = new Callback.Completable();
            op.accept(done);
            try {
                done.get(60, TimeUnit.SECONDS);
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException | TimeoutException e) {
                stop();
                return false;
            }
        }

        void stop() {
            stopped = true;
            t.changes().changed(); // wakes the sender so it notices
        }
    }

    // ---- helpers ----

    private String vm(Context ctx) {
        String vmId = VmRequests.vmId(ctx);
        lifecycle.get(vmId);
        return vmId;
    }

    private ManagedProcess terminal(Context ctx) {
        return terminals.get(vm(ctx), ctx.pathParam("terminal_id"));
    }

    private static String status(ManagedProcess t) {
        return t.running() ? "running" : "exited";
    }

    private static TerminalInfo info(ManagedProcess t) {
        return new TerminalInfo(t.id(), status(t), t.startedAt(), t.exitCode(),
                "/v1/vms/" + t.vmId() + "/terminals/" + t.id() + "/ws");
    }

}
