package dev.burrow.core.process;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * A process the server holds on behalf of clients: its output is pumped into bounded {@link OutputBuffer}s by the
 * server (so it never stalls on a full pipe and no client has to be connected), its exit is watched, and an
 * explicit timeout is enforced. Clients come and go; only {@link #kill()}, a signal or the timeout end it.
 *
 * <p>Threads: one platform thread per output stream (terminal reads block in native code) and one watcher. All end
 * with the process, except that a pipe kept open by a background child of an exited process keeps its pump until
 * that child ends (at the latest when the VM stops); what it still writes is discarded.
 */
public final class ManagedProcess {
    private static final Logger log = LoggerFactory.getLogger(ManagedProcess.class);
    private static final byte CTRL_D = 0x04;

    private final String id;
    private final String vmId;
    private final ProcessSpec spec;
    private final Duration timeout;
    private final Instant startedAt;
    private final Clock clock;
    private final SandboxProcess process;
    private final ChangeSignal signal = new ChangeSignal();
    private final OutputBuffer stdout;
    private final OutputBuffer stderr;
    private final Consumer<byte[]> tap;
    private final Runnable activity;
    private final Duration drainGrace;
    private final Consumer<ManagedProcess> onEnd;
    private final Thread outPump;
    private final Thread errPump;
    private final Thread watcher;
    private final AtomicLong lastActivity = new AtomicLong();
    private final Object stdinLock = new Object();
    private final String label;

    private volatile ProcessStatus status = ProcessStatus.RUNNING;
    private volatile Integer exitCode;
    private volatile Instant endedAt;
    private volatile boolean killRequested;
    private volatile int lastSignal;
    private boolean stdinClosed;

    ManagedProcess(String id, String vmId, ProcessSpec spec, Duration timeout, SandboxProcess process, int bufferBytes,
                   Clock clock, Duration drainGrace, Consumer<byte[]> tap, Runnable activity,
                   Consumer<ManagedProcess> onEnd, String label) {
        this.id = id;
        this.vmId = vmId;
        this.spec = spec;
        this.timeout = timeout;
        this.process = process;
        this.clock = clock;
        this.startedAt = clock.instant();
        this.stdout = new OutputBuffer(bufferBytes, signal);
        this.stderr = new OutputBuffer(spec.tty() ? 1 : bufferBytes, signal);
        this.tap = tap;
        this.activity = activity;
        this.drainGrace = drainGrace;
        this.onEnd = onEnd;
        this.label = label;
        this.outPump = Thread.ofPlatform().daemon().name(threadName("stdout")).unstarted(() -> pump(process.stdout(), stdout, true));
        this.errPump = spec.tty() ? null
                : Thread.ofPlatform().daemon().name(threadName("stderr")).unstarted(() -> pump(process.stderr(), stderr, false));
        this.watcher = Thread.ofVirtual().name(threadName("watch")).unstarted(this::watch);
    }

    /** Thread names carry this prefix, the VM id and the process id, so a test can tell that none is left. */
    public static final String THREAD_PREFIX = "burrow-proc-";

    private String threadName(String what) {
        return THREAD_PREFIX + label + "-" + vmId + "-" + id + "-" + what;
    }

    void begin() {
        outPump.start();
        if (errPump != null) errPump.start();
        watcher.start();
    }

    public String id() { return id; }

    public String vmId() { return vmId; }

    public List<String> argv() { return spec.argv(); }

    public boolean tty() { return spec.tty(); }

    public String user() { return spec.user(); }

    public String workdir() { return spec.workdir(); }

    public Duration timeout() { return timeout; }

    public Instant startedAt() { return startedAt; }

    public Instant endedAt() { return endedAt; }

    public ProcessStatus status() { return status; }

    public Integer exitCode() { return exitCode; }

    public boolean running() { return status == ProcessStatus.RUNNING; }

    public OutputBuffer stdout() { return stdout; }

    /** Always empty for a process with a terminal. */
    public OutputBuffer stderr() { return stderr; }

    public ChangeSignal changes() { return signal; }

    /** What the output was also handed to (a terminal's {@link LineLog}), or null. */
    public Consumer<byte[]> tap() { return tap; }

    /** Output finished and exit recorded: a reader that has read both buffers to their end has seen everything. */
    public boolean finished() {
        return status != ProcessStatus.RUNNING;
    }

    /** Counts as activity on the VM, at most once per 5 s per process. */
    public void touch() {
        long now = System.nanoTime();
        long last = lastActivity.get();
        if (last != 0 && now - last < 5_000_000_000L) return;
        if (!lastActivity.compareAndSet(last, now)) return;
        Thread.ofVirtual().name(threadName("activity")).start(() -> {
            try {
                activity.run();
            } catch (RuntimeException e) {
                log.debug("activity on vm_id={} failed: {}", vmId, e.getMessage());
            }
        });
    }

    /** Writes to the process's stdin (for a terminal: keystrokes). */
    public void write(byte[] data) {
        synchronized (stdinLock) {
            if (!running()) throw conflict(ErrorCode.PROCESS_NOT_RUNNING, "process " + id + " has ended; its stdin is closed");
            if (stdinClosed) throw conflict(ErrorCode.STDIN_CLOSED, "stdin of process " + id + " was closed (eof)");
            try {
                OutputStream in = process.stdin();
                in.write(data);
                in.flush();
            } catch (IOException e) {
                throw conflict(ErrorCode.PROCESS_NOT_RUNNING, "process " + id + " no longer reads stdin: " + e.getMessage());
            }
        }
        touch();
    }

    /** End of input: closes the pipe, or for a terminal types Ctrl-D (the terminal itself stays open). */
    public void closeStdin() {
        synchronized (stdinLock) {
            if (stdinClosed || !running()) return;
            try {
                if (spec.tty()) {
                    process.stdin().write(CTRL_D);
                    process.stdin().flush();
                } else {
                    stdinClosed = true;
                    process.stdin().close();
                }
            } catch (IOException e) {
                // the process is ending; nothing to close
            }
        }
        touch();
    }

    public void signal(int sig) {
        if (!running()) throw conflict(ErrorCode.PROCESS_NOT_RUNNING, "process " + id + " has already ended (" + status.wireName() + ")");
        lastSignal = sig;
        process.signal(sig);
        touch();
    }

    public void resize(int cols, int rows) {
        if (!spec.tty()) throw BurrowException.of(ErrorCode.NOT_A_TERMINAL, "process " + id + " has no terminal to resize (start it with tty: true)");
        if (running()) process.resize(cols, rows);
        touch();
    }

    /** Waits up to {@code timeout} for the process to end (output drained, exit recorded). */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long seen = signal.version();
        while (!finished()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return false;
            seen = signal.await(seen, Duration.ofNanos(left));
        }
        return true;
    }

    /** Ends the process and what it started (SIGKILL); its status becomes killed. Returns at once. */
    public void kill() {
        if (!running()) return;
        killRequested = true;
        Thread.ofVirtual().name(threadName("kill")).start(process::close);
    }

    /** Kills it and waits (bounded) for its threads, for teardown paths that must not leave anything behind. */
    void killAndAwait(Duration limit) {
        killRequested = running() || killRequested;
        process.close();
        try {
            watcher.join(limit);
            outPump.join(Duration.ofMillis(200));
            if (errPump != null) errPump.join(Duration.ofMillis(200));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    boolean threadsAlive() {
        return watcher.isAlive() || outPump.isAlive() || (errPump != null && errPump.isAlive());
    }

    private void pump(InputStream in, OutputBuffer into, boolean tapped) {
        byte[] buf = new byte[16 * 1024];
        try {
            int n;
            while ((n = in.read(buf)) > 0) {
                into.append(buf, 0, n);
                if (tapped && tap != null) {
                    try {
                        tap.accept(java.util.Arrays.copyOf(buf, n));
                    } catch (RuntimeException e) {
                        log.warn("output tap of process {} failed: {}", id, e.toString());
                    }
                }
            }
        } catch (IOException e) {
            // the stream ended with the process
        }
    }

    private void watch() {
        boolean timedOut = false;
        int code = -1;
        try {
            long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
            if (spec.tty()) {
                // A terminal's output ends (EIO) when runc exits: reading it to the end first means the exit is
                // recorded only after every byte the process wrote.
                if (!join(outPump, deadline)) timedOut = true;
            }
            OptionalInt exit = timedOut ? OptionalInt.empty() : waitUntil(deadline);
            if (exit.isEmpty()) {
                timedOut = !killRequested;
                process.close();
                exit = OptionalInt.of(process.waitFor());
            }
            code = exit.getAsInt();
            outPump.join(drainGrace);
            if (errPump != null) errPump.join(drainGrace);
        } catch (InterruptedException e) {
            process.close();
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.warn("watching process {} in vm_id={} failed: {}", id, vmId, e.toString());
            process.close();
        } finally {
            process.close(); // releases the host side (pid file, terminal)
            stdout.close();
            stderr.close();
            ProcessStatus end;
            if (killRequested) end = ProcessStatus.KILLED;
            else if (timedOut) end = ProcessStatus.TIMED_OUT;
            else if (lastSignal > 0 && code == 128 + lastSignal) end = ProcessStatus.KILLED;
            else end = ProcessStatus.EXITED;
            exitCode = code < 0 ? null : code;
            endedAt = clock.instant();
            status = end;
            signal.changed();
            log.debug("process {} in vm_id={} ended: {} exit={}", id, vmId, end.wireName(), exitCode);
            try {
                onEnd.accept(this);
            } catch (RuntimeException e) {
                log.warn("after process {} ended: {}", id, e.toString());
            }
        }
    }

    private OptionalInt waitUntil(long deadline) throws InterruptedException {
        if (deadline == Long.MAX_VALUE) return OptionalInt.of(process.waitFor());
        long left = deadline - System.nanoTime();
        return process.waitFor(Duration.ofNanos(Math.max(1, left)));
    }

    private static boolean join(Thread t, long deadline) throws InterruptedException {
        if (deadline == Long.MAX_VALUE) {
            t.join();
            return true;
        }
        long left = deadline - System.nanoTime();
        if (left > 0) t.join(Duration.ofNanos(left));
        return !t.isAlive();
    }

    private static BurrowException conflict(ErrorCode code, String message) {
        return BurrowException.of(code, message);
    }
}
