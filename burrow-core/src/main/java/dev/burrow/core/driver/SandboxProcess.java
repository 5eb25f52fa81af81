package dev.burrow.core.driver;

import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.OptionalInt;

/**
 * A running process inside a sandbox (see {@link SandboxDriver#spawn}). Its streams belong to the caller, who
 * must drain stdout and stderr (a full pipe stalls the process, as with any child). Closing it ends the
 * process if it still runs and releases the host side.
 */
public interface SandboxProcess extends AutoCloseable {

    OutputStream stdin();

    InputStream stdout();

    /** Empty for a process with a terminal (its errors arrive on the terminal). */
    InputStream stderr();

    /** Changes the terminal size; the process gets SIGWINCH. Ignored without a terminal. */
    void resize(int cols, int rows);

    /** Sends a signal (by number, e.g. 15) to the process inside the sandbox; ignored once it has exited. */
    void signal(int signal);

    /** Waits for the exit code: the process's own, or 128+signal when a signal ended it. */
    int waitFor() throws InterruptedException;

    /** The exit code if it ended within {@code timeout}. */
    OptionalInt waitFor(Duration timeout) throws InterruptedException;

    boolean isAlive();

    /**
     * Ends the process and everything it started (SIGKILL) if it still runs, then releases the host side (the
     * terminal). Call it after the output was read to its end; always call it. Idempotent.
     */
    @Override
    void close();
}
