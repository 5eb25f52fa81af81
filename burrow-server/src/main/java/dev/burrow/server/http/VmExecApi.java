package dev.burrow.server.http;

import static dev.burrow.server.http.VmRequests.requiredBody;
import static dev.burrow.server.http.VmRequests.vmId;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import dev.burrow.api.ExecAwaitRequest;
import dev.burrow.api.ExecAwaitResponse;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.ShellCommand;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.Vm;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/** {@code POST /v1/vms/{vm_id}/exec-await}: a shell command run to its end, as root or as the SDK's user. */
public final class VmExecApi implements ApiModule {
    private static final Duration DEFAULT_EXEC_TIMEOUT = Duration.ofMinutes(5);
    private static final Duration MAX_EXEC_TIMEOUT = Duration.ofHours(24);
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;

    public VmExecApi(LifecycleCoordinator lifecycle) {
        this.lifecycle = lifecycle;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/exec-await",
                "Run a shell command in the VM and wait for it (a suspended VM is resumed first)",
                ExecAwaitRequest.class, ExecAwaitResponse.class, Access.API_KEY, this::execAwait);
    }

    private void execAwait(Context ctx) {
        String id = vmId(ctx);
        ExecAwaitRequest req = requiredBody(ctx, ExecAwaitRequest.class);
        if (req.command() == null || req.command().isEmpty()) {
            throw ApiException.badRequest("'command' is required and must be a non-empty string");
        }
        if (req.command().indexOf('\0') >= 0) throw ApiException.badRequest("'command' must not contain NUL bytes");
        Duration timeout = DEFAULT_EXEC_TIMEOUT;
        if (req.timeoutMs() != null) {
            if (req.timeoutMs() <= 0) throw ApiException.badRequest("'timeoutMs' must be a positive number of milliseconds");
            timeout = Duration.ofMillis(Math.min(req.timeoutMs(), MAX_EXEC_TIMEOUT.toMillis()));
        }
        // vm.user({username}).exec(...) in the SDK sends the user in this header; running as root instead would be
        // silently wrong
        String user = ctx.header(LINUX_USER_HEADER);
        if (user == null || user.isBlank()) user = VmRequests.defaultUser(lifecycle, id);
        ExecResult r = user == null || user.isBlank() ? lifecycle.exec(id, ExecRequest.of(req.command(), timeout), CAUSE)
                : execAs(id, user, req.command(), timeout);
        ctx.json(new ExecAwaitResponse(r.stdout(), r.stderr(), r.exitCode(), r.timedOut(), r.truncated()));
    }

    /** The header the SDK's {@code vm.user({username})} sends. */
    static final String LINUX_USER_HEADER = "X-Freestyle-Vm-Linux-User-Id";

    /**
     * exec-await as a user of the VM, through the driver's interactive process (which resolves the user in the
     * VM's own passwd and group files): output collected up to the exec limit, killed at the timeout.
     */
    private ExecResult execAs(String id, String user, String command, Duration timeout) {
        long t0 = System.nanoTime();
        var spec = new dev.burrow.core.driver.ProcessSpec(ShellCommand.argv(command), Map.of(), null, user, false, 0, 0, null);
        try (var p = lifecycle.spawn(id, spec, CAUSE)) {
            byte[] script = ShellCommand.stdin(command);
            if (script != null) {
                // Written from its own thread: the command may print more than a pipe holds before sh reads it all.
                Thread.ofVirtual().start(() -> {
                    try (var in = p.stdin()) {
                        in.write(script);
                    } catch (java.io.IOException ignored) {
                        // the process ended before reading it all; its exit code tells
                    }
                });
            } else {
                p.stdin().close();
            }
            var out = new java.io.ByteArrayOutputStream();
            var err = new java.io.ByteArrayOutputStream();
            boolean[] cut = new boolean[1];
            Thread to = Thread.ofVirtual().start(() -> drain(p.stdout(), out, cut));
            Thread te = Thread.ofVirtual().start(() -> drain(p.stderr(), err, cut));
            var code = p.waitFor(timeout);
            boolean timedOut = code.isEmpty();
            if (timedOut) p.close();
            to.join(2000);
            te.join(2000);
            return new ExecResult(timedOut ? 137 : code.getAsInt(), out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8), timedOut, cut[0], (System.nanoTime() - t0) / 1_000_000);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("exec as " + user + " in VM " + id + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during exec in VM " + id, e);
        }
    }

    private static void drain(java.io.InputStream in, java.io.ByteArrayOutputStream sink, boolean[] cut) {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                synchronized (sink) {
                    int room = ExecRequest.DEFAULT_MAX_OUTPUT - sink.size();
                    if (room > 0) sink.write(buf, 0, Math.min(n, room));
                    if (n > room) cut[0] = true;
                }
            }
        } catch (java.io.IOException e) {
            // the process ended or was killed: what was read is the output
        }
    }
}
