package dev.burrow.server.ssh;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.Signal;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.LifecycleCoordinator;

/**
 * A shell, a command or a subsystem server of one SSH channel, run inside the VM as the login's user: a
 * terminal when the client asked for one (window changes follow), pipes otherwise; the remote exit code and
 * signals (e.g. Ctrl-C sent as a signal request) are passed through.
 */
final class SshChannelCommand implements Command {
    private static final Logger log = LoggerFactory.getLogger(SshChannelCommand.class);
    /** Starts in the user's home (as sshd does) and evaluates the command in that same shell. */
    private static final String IN_HOME = "cd \"$HOME\" 2>/dev/null || cd /; ";

    enum Kind { SHELL, EXEC, SUBSYSTEM }

    private final LifecycleCoordinator lifecycle;
    private final SshLogin login;
    private final Kind kind;
    private final String command;
    private final List<String> subsystemArgv;
    private final SessionActivity activity;
    private InputStream in;
    private OutputStream out;
    private OutputStream err;
    private ExitCallback exit;
    private volatile SandboxProcess process;

    SshChannelCommand(LifecycleCoordinator lifecycle, SshLogin login, Kind kind, String command, List<String> subsystemArgv,
              SessionActivity activity) {
        this.lifecycle = lifecycle;
        this.login = login;
        this.kind = kind;
        this.command = command;
        this.subsystemArgv = subsystemArgv;
        this.activity = activity;
    }

    @Override
    public void setInputStream(InputStream in) {
        this.in = in;
    }

    @Override
    public void setOutputStream(OutputStream out) {
        this.out = out;
    }

    @Override
    public void setErrorStream(OutputStream err) {
        this.err = err;
    }

    @Override
    public void setExitCallback(ExitCallback callback) {
        this.exit = callback;
    }

    @Override
    public void start(ChannelSession channel, Environment env) {
        Map<String, String> vars = env.getEnv();
        boolean tty = kind != Kind.SUBSYSTEM && vars.containsKey(Environment.ENV_TERM) && vars.containsKey(Environment.ENV_COLUMNS);
        List<String> argv = switch (kind) {
            case SHELL -> List.of("/bin/sh", "-c", IN_HOME + "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi");
            case EXEC -> List.of("/bin/sh", "-c", IN_HOME + "eval \"$1\"", "sh", command);
            case SUBSYSTEM -> subsystemArgv;
        };
        if (argv.isEmpty()) {
            fail(command + " is not available on this Burrow server");
            return;
        }
        ProcessSpec spec = new ProcessSpec(argv, Map.of(), null, login.linuxUser(), tty, number(vars, Environment.ENV_COLUMNS),
                number(vars, Environment.ENV_LINES), vars.get(Environment.ENV_TERM));
        // Spawning wakes a suspended VM and may take a moment: not on the SSH I/O thread.
        Thread.ofVirtual().name("ssh-" + login.vmId()).start(() -> run(spec, env));
    }

    private void run(ProcessSpec spec, Environment env) {
        SandboxProcess p;
        try {
            p = lifecycle.spawn(login.vmId(), spec, "ssh");
        } catch (BurrowException e) {
            fail(e.getMessage());
            return;
        } catch (RuntimeException e) {
            log.atWarn().addKeyValue("vm_id", login.vmId()).log("ssh command failed to start", e);
            fail("cannot start the command in VM " + login.vmId());
            return;
        }
        process = p;
        env.addSignalListener((channel, signal) -> {
            if (signal == Signal.WINCH) {
                p.resize(number(env.getEnv(), Environment.ENV_COLUMNS), number(env.getEnv(), Environment.ENV_LINES));
            } else {
                p.signal(signal.getNumeric());
            }
        });
        Thread input = Thread.ofPlatform().daemon().name("ssh-in-" + login.vmId()).start(() -> pump(in, p.stdin(), true));
        Thread output = Thread.ofPlatform().daemon().name("ssh-out-" + login.vmId()).start(() -> pump(p.stdout(), out, false));
        Thread errors = Thread.ofPlatform().daemon().name("ssh-err-" + login.vmId()).start(() -> pump(p.stderr(), err, false));
        int code;
        try {
            code = p.waitFor();
            output.join(2000);
            errors.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            code = 130;
        } finally {
            p.close();
        }
        input.interrupt();
        log.atDebug().addKeyValue("vm_id", login.vmId()).addKeyValue("exit_code", code).log("ssh command ended");
        exit.onExit(code);
    }

    private void pump(InputStream from, OutputStream to, boolean closeTarget) {
        byte[] buf = new byte[16384];
        try {
            int n;
            while ((n = from.read(buf)) > 0) {
                to.write(buf, 0, n);
                to.flush();
                activity.traffic();
            }
        } catch (IOException e) {
            // the other side went away; the exit path finishes the channel
        } finally {
            if (closeTarget) {
                try {
                    to.close();
                } catch (IOException ignored) {
                    // already closed
                }
            }
        }
    }

    private void fail(String message) {
        try {
            err.write(("burrow: " + message + "\r\n").getBytes(StandardCharsets.UTF_8));
            err.flush();
        } catch (IOException ignored) {
            // client gone
        }
        exit.onExit(1, message);
    }

    @Override
    public void destroy(ChannelSession channel) {
        SandboxProcess p = process;
        if (p != null) p.close();
    }

    private static int number(Map<String, String> env, String key) {
        try {
            return Integer.parseInt(env.getOrDefault(key, "0"));
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
