package dev.burrow.driver.runc.internal;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ExecResult;

/**
 * Runs one {@code runc exec} and collects its result. Not {@link HostCommand}: output here is the user's,
 * bounded per request and flagged when cut (the rest is drained and dropped so the process never blocks on
 * a full pipe), and a timeout must kill the command inside the container, not only the runc process on the
 * host, whose death would leave the command running.
 */
public final class ContainerExec {
    /** How long runc may take to report the exit after its command was killed. */
    private static final long KILL_GRACE_MS = 2000;
    private static final int KILL_ROUNDS = 5;

    private ContainerExec() { }

    /**
     * Starts {@code argv} (a complete runc exec command line). Returns once runc is running on the host;
     * the command inside the container may not have started yet.
     */
    public static Running start(List<String> argv, byte[] stdin, int maxOutputBytes) {
        long start = System.nanoTime();
        ProcessBuilder pb = new ProcessBuilder(argv);
        if (stdin == null) pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new DriverException("cannot start runc exec: " + e.getMessage(), e);
        }
        BoundedSink out = new BoundedSink(maxOutputBytes);
        BoundedSink err = new BoundedSink(maxOutputBytes);
        Thread outPump = pump(p.getInputStream(), out);
        Thread errPump = pump(p.getErrorStream(), err);
        if (stdin != null) {
            // Written from its own thread: a command that prints before reading must not deadlock us.
            Thread.ofVirtual().start(() -> {
                try (OutputStream os = p.getOutputStream()) {
                    os.write(stdin);
                } catch (IOException ignored) {
                    // the command exited or closed stdin without reading everything; its exit code tells
                }
            });
        }
        return new Running(p, out, err, outPump, errPump, start);
    }

    /** A started exec. */
    public static final class Running {
        private final Process process;
        private final BoundedSink out;
        private final BoundedSink err;
        private final Thread outPump;
        private final Thread errPump;
        private final long startNanos;

        private Running(Process process, BoundedSink out, BoundedSink err, Thread outPump, Thread errPump,
                        long startNanos) {
            this.process = process;
            this.out = out;
            this.err = err;
            this.outPump = outPump;
            this.errPump = errPump;
            this.startNanos = startNanos;
        }

        /**
         * Waits for the command, killing it inside the container when {@code timeoutMs} (0: no limit)
         * passes.
         *
         * @param pidFile   where runc wrote the command's host pid ({@code --pid-file})
         * @param cgroupTag a string every process of this VM has in {@code /proc/<pid>/cgroup}; checked
         *                  before killing so a recycled pid of a host process is never signalled
         */
        public ExecResult await(long timeoutMs, Path pidFile, String cgroupTag) {
            Process p = process;
            boolean timedOut = false;
            try {
                boolean finished;
                if (timeoutMs > 0) {
                    finished = p.waitFor(timeoutMs, TimeUnit.MILLISECONDS);
                } else {
                    p.waitFor();
                    finished = true;
                }
                if (!finished) {
                    timedOut = true;
                    killInContainer(pidFile, cgroupTag);
                    if (!p.waitFor(KILL_GRACE_MS, TimeUnit.MILLISECONDS)) {
                        // runc waits for every holder of the command's stdout, e.g. a background child that
                        // escaped to the VM's init; ending runc releases our side.
                        p.destroyForcibly();
                        p.waitFor(KILL_GRACE_MS, TimeUnit.MILLISECONDS);
                    }
                }
                outPump.join(KILL_GRACE_MS);
                errPump.join(KILL_GRACE_MS);
            } catch (InterruptedException e) {
                killInContainer(pidFile, cgroupTag);
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new DriverException("interrupted while waiting for exec");
            }
            int exitCode = p.isAlive() ? 137 : p.exitValue();
            // runc reports 128+signal for a killed command; if runc itself had to be killed it is 137 too.
            if (timedOut && exitCode < 128) exitCode = 137;
            long ms = (System.nanoTime() - startNanos) / 1_000_000;
            return new ExecResult(exitCode, out.text(), err.text(), timedOut, out.truncated() || err.truncated(), ms);
        }
    }

    /**
     * SIGKILLs the exec'd command and its descendants. Descendants are collected before their parent dies
     * (afterwards they belong to the VM's init and cannot be told apart) and again after each round, so
     * children forked meanwhile are caught too.
     */
    static void killInContainer(Path pidFile, String cgroupTag) {
        Optional<ProcessHandle> main = readPid(pidFile).flatMap(ProcessHandle::of);
        if (main.isEmpty() || !inCgroup(main.get().pid(), cgroupTag)) return;
        for (int round = 0; round < KILL_ROUNDS; round++) {
            List<ProcessHandle> tree = main.get().descendants().toList();
            if (tree.isEmpty()) break;
            tree.forEach(ProcessHandle::destroyForcibly);
        }
        main.get().destroyForcibly();
        for (ProcessHandle h : main.get().descendants().toList()) h.destroyForcibly();
    }

    private static Optional<Long> readPid(Path pidFile) {
        try {
            String s = Files.readString(pidFile).strip();
            return s.isEmpty() ? Optional.empty() : Optional.of(Long.parseLong(s));
        } catch (IOException | NumberFormatException e) {
            // runc had not started the command yet: killing runc (by the caller) is then enough.
            return Optional.empty();
        }
    }

    static boolean inCgroup(long pid, String cgroupTag) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cgroup")).contains(cgroupTag);
        } catch (IOException e) {
            return false;
        }
    }

    private static Thread pump(InputStream in, BoundedSink sink) {
        return Thread.ofVirtual().start(() -> {
            byte[] buf = new byte[16384];
            try (in) {
                int n;
                while ((n = in.read(buf)) > 0) sink.write(buf, n);
            } catch (IOException e) {
                // the stream closes when runc is killed; what was read is kept
            }
        });
    }

    /** Keeps the first {@code limit} bytes and counts, but drops, the rest. */
    private static final class BoundedSink {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final int limit;
        private boolean truncated;

        BoundedSink(int limit) {
            this.limit = limit;
        }

        synchronized void write(byte[] b, int n) {
            int keep = Math.min(n, limit - bytes.size());
            if (keep > 0) bytes.write(b, 0, keep);
            if (keep < n) truncated = true;
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        synchronized boolean truncated() {
            return truncated;
        }
    }
}
