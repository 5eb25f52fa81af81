package dev.burrow.driver.runc.internal;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

import com.sun.jna.LastErrorException;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.SandboxProcess;

/**
 * One foreground {@code runc exec} whose stdio the caller streams: pipes, or with a terminal a {@link HostPty}
 * that runc relays into the terminal it makes inside the container. runc exits with the command's code.
 */
public final class RuncProcess implements SandboxProcess {
    private static final long KILL_GRACE_MS = 2000;

    private final Process runc;
    private final HostPty pty;
    private final Path pidFile;
    private final Path processFile;
    private final String cgroupTag;
    private final InputStream stdout;
    private final InputStream stderr;
    private final OutputStream stdin;

    private RuncProcess(Process runc, HostPty pty, Path pidFile, Path processFile, String cgroupTag) {
        this.runc = runc;
        this.pty = pty;
        this.pidFile = pidFile;
        this.processFile = processFile;
        this.cgroupTag = cgroupTag;
        if (pty != null) {
            this.stdout = pty.output();
            this.stderr = InputStream.nullInputStream();
            this.stdin = pty.input();
        } else {
            this.stdout = runc.getInputStream();
            this.stderr = runc.getErrorStream();
            this.stdin = runc.getOutputStream();
        }
    }

    /**
     * Starts {@code runcArgv} (a complete {@code runc exec} command line whose {@code --process} file, {@code
     * processFile}, asks for a terminal when {@code tty}). {@code pidFile} is the {@code --pid-file} in it.
     */
    public static RuncProcess start(List<String> runcArgv, boolean tty, int cols, int rows, Path pidFile,
                                    Path processFile, String cgroupTag) {
        HostPty pty = tty ? HostPty.open(cols, rows) : null;
        try {
            List<String> argv = new ArrayList<>();
            ProcessBuilder pb;
            if (pty != null) {
                // setsid -c: a new session whose controlling terminal is the pty, so resizes signal runc.
                argv.addAll(List.of("setsid", "-c"));
                argv.addAll(runcArgv);
                File slave = new File(pty.slavePath());
                pb = new ProcessBuilder(argv).redirectInput(slave).redirectOutput(slave).redirectError(slave);
            } else {
                pb = new ProcessBuilder(runcArgv);
            }
            return new RuncProcess(pb.start(), pty, pidFile, processFile, cgroupTag);
        } catch (IOException e) {
            if (pty != null) pty.close();
            throw new DriverException("cannot start runc exec: " + e.getMessage(), e);
        }
    }

    @Override
    public OutputStream stdin() {
        return stdin;
    }

    @Override
    public InputStream stdout() {
        return stdout;
    }

    @Override
    public InputStream stderr() {
        return stderr;
    }

    @Override
    public void resize(int cols, int rows) {
        if (pty != null && cols > 0 && rows > 0) pty.resize(cols, rows);
    }

    @Override
    public void signal(int signal) {
        if (!runc.isAlive()) return;
        long pid = awaitPid();
        if (pid <= 0 || !ContainerExec.inCgroup(pid, cgroupTag)) return;
        try {
            LibC.INSTANCE.kill((int) pid, signal);
        } catch (LastErrorException e) {
            // exited meanwhile (ESRCH)
        }
    }

    /** The command's host pid; runc writes it just before starting the command. */
    private long awaitPid() {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(KILL_GRACE_MS);
        while (System.nanoTime() < deadline && runc.isAlive()) {
            try {
                String s = Files.readString(pidFile).strip();
                if (!s.isEmpty()) return Long.parseLong(s);
            } catch (IOException | NumberFormatException notYet) {
                // not written yet
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return -1;
            }
        }
        return -1;
    }

    @Override
    public int waitFor() throws InterruptedException {
        // The terminal is released by close(), not here: output may still be buffered in it for the reader.
        return runc.waitFor();
    }

    @Override
    public OptionalInt waitFor(Duration timeout) throws InterruptedException {
        if (!runc.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) return OptionalInt.empty();
        return OptionalInt.of(runc.exitValue());
    }

    @Override
    public boolean isAlive() {
        return runc.isAlive();
    }

    @Override
    public void close() {
        if (runc.isAlive()) {
            // runc writes the pid file only after the command started; it may already be printing by then.
            awaitPid();
            ContainerExec.killInContainer(pidFile, cgroupTag);
            try {
                if (!runc.waitFor(KILL_GRACE_MS, TimeUnit.MILLISECONDS)) {
                    runc.destroyForcibly();
                    runc.waitFor(KILL_GRACE_MS, TimeUnit.MILLISECONDS);
                }
            } catch (InterruptedException e) {
                runc.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        release();
    }

    private void release() {
        if (pty != null) pty.close();
        try {
            Files.deleteIfExists(pidFile);
            Files.deleteIfExists(processFile);
        } catch (IOException ignored) {
            // removed with the VM directory at the latest
        }
    }
}
