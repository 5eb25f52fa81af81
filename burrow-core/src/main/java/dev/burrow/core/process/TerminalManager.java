package dev.burrow.core.process;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Named, server-held shells with a terminal, per VM. A terminal outlives its viewers: they attach and detach (a
 * browser over WebSocket), it ends when its shell exits, when it is deleted, or when the VM stops. Its output is
 * kept as raw terminal bytes (scrollback replayed to a new viewer) and as plain text lines ({@link LineLog}).
 */
public final class TerminalManager implements TransitionListener, AutoCloseable {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    /** The login shell: bash where the image has it, sh otherwise. */
    static final List<String> DEFAULT_SHELL = List.of("/bin/sh", "-c",
            "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi");

    private final ProcessManager processes;
    private final Clock clock;

    public TerminalManager(ProcessManager.Spawner spawner, ProcessManager.Activity activity, Clock clock,
                           ProcessManager.Settings settings) {
        this.processes = new ProcessManager(spawner, activity, clock, settings, "t");
        this.clock = clock;
    }

    /**
     * Opens a terminal. {@code name} null picks one; {@code command} null runs the login shell, otherwise
     * {@code /bin/sh -c command}.
     */
    public ManagedProcess open(String vmId, String name, String command, int cols, int rows, String user,
                               Map<String, String> env, String workdir) {
        if (name == null) name = ProcessManager.newId().replaceFirst("^p", "t");
        if (!NAME.matcher(name).matches()) {
            throw BurrowException.of(ErrorCode.INVALID_TERMINAL_NAME,
                    "a terminal name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        List<String> argv = command == null ? DEFAULT_SHELL : List.of("/bin/sh", "-c", command);
        ProcessSpec spec = new ProcessSpec(argv, env, workdir, user, true, cols, rows, "xterm-256color");
        return processes.start(vmId, name, spec, null, new LineLog(5000, 8192, clock));
    }

    public List<ManagedProcess> list(String vmId) {
        return processes.list(vmId);
    }

    public ManagedProcess get(String vmId, String name) {
        return processes.get(vmId, name);
    }

    public ManagedProcess remove(String vmId, String name) {
        return processes.remove(vmId, name);
    }

    public static LineLog logOf(ManagedProcess terminal) {
        return (LineLog) terminal.tap();
    }

    public int size() {
        return processes.size();
    }

    public boolean anyThreadsAlive() {
        return processes.anyThreadsAlive();
    }

    @Override
    public void transitioned(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason) {
        processes.transitioned(vm, from, op, cause, durationMs, reason);
    }

    @Override
    public void close() {
        processes.close();
    }
}
