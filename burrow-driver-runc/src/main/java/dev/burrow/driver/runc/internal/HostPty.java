package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

import com.sun.jna.LastErrorException;
import com.sun.jna.NativeLong;

import dev.burrow.core.driver.DriverException;

/**
 * A pseudo-terminal pair on the host. {@code runc exec -t} in the foreground relays between the terminal it
 * makes inside the container and its own stdin/stdout, and copies its stdin terminal's size into the container
 * on SIGWINCH; giving runc this pty's slave as stdio (and as controlling terminal, so the kernel sends it
 * SIGWINCH) therefore makes window resizes reach the process inside.
 */
public final class HostPty implements AutoCloseable {
    private static final LibC C = LibC.INSTANCE;
    private final int master;
    private final String slavePath;
    private final Object closeLock = new Object();
    private boolean closed;
    /** Native calls on the master in progress; the fd is closed only when none is, so it is never reused under one. */
    private int inFlight;
    private boolean closeRequested;

    private HostPty(int master, String slavePath) {
        this.master = master;
        this.slavePath = slavePath;
    }

    public static HostPty open(int cols, int rows) {
        int fd;
        try {
            fd = C.posix_openpt(LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw new DriverException("cannot open a pseudo-terminal: errno " + e.getErrorCode(), e);
        }
        try {
            C.grantpt(fd);
            C.unlockpt(fd);
            byte[] name = new byte[128];
            C.ptsname_r(fd, name, new NativeLong(name.length));
            int len = 0;
            while (len < name.length && name[len] != 0) len++;
            HostPty pty = new HostPty(fd, new String(name, 0, len, StandardCharsets.US_ASCII));
            pty.resize(cols, rows);
            return pty;
        } catch (LastErrorException e) {
            C.close(fd);
            throw new DriverException("cannot set up a pseudo-terminal: errno " + e.getErrorCode(), e);
        }
    }

    /** The slave's device path, e.g. {@code /dev/pts/3}, for the child's stdio. */
    public String slavePath() {
        return slavePath;
    }

    public void resize(int cols, int rows) {
        synchronized (closeLock) {
            if (closed || closeRequested) return;
            try {
                C.ioctl(master, new NativeLong(LibC.TIOCSWINSZ), new LibC.Winsize(cols, rows));
            } catch (LastErrorException e) {
                throw new DriverException("cannot resize the terminal: errno " + e.getErrorCode(), e);
            }
        }
    }

    /**
     * What the terminal shows. Blocking reads run in native code: read it from a platform thread. It ends
     * (EIO from the kernel) once every holder of the slave side has exited.
     */
    public InputStream output() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) return 0;
                byte[] buf = off == 0 ? b : new byte[len];
                while (true) {
                    if (!enter()) return -1;
                    try {
                        int n = (int) C.read(master, buf, new NativeLong(Math.min(len, buf.length))).longValue();
                        if (n <= 0) return -1;
                        if (buf != b) System.arraycopy(buf, 0, b, off, n);
                        return n;
                    } catch (LastErrorException e) {
                        if (e.getErrorCode() == LibC.EINTR || e.getErrorCode() == LibC.EAGAIN) continue;
                        return -1; // EIO: the slave side is closed, the session is over
                    } finally {
                        leave();
                    }
                }
            }
        };
    }

    /** Keystrokes into the terminal. */
    public OutputStream input() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                byte[] buf = off == 0 ? b : java.util.Arrays.copyOfRange(b, off, off + len);
                int done = 0;
                while (done < len) {
                    byte[] chunk = done == 0 ? buf : java.util.Arrays.copyOfRange(buf, done, len);
                    if (!enter()) throw new IOException("terminal closed");
                    try {
                        int n = (int) C.write(master, chunk, new NativeLong(len - done)).longValue();
                        if (n <= 0) throw new IOException("terminal closed");
                        done += n;
                    } catch (LastErrorException e) {
                        if (e.getErrorCode() == LibC.EINTR || e.getErrorCode() == LibC.EAGAIN) continue;
                        throw new IOException("terminal closed (errno " + e.getErrorCode() + ")");
                    } finally {
                        leave();
                    }
                }
            }
        };
    }

    private boolean enter() {
        synchronized (closeLock) {
            if (closed || closeRequested) return false;
            inFlight++;
            return true;
        }
    }

    private void leave() {
        synchronized (closeLock) {
            inFlight--;
            if (closeRequested && inFlight == 0) closeNow();
        }
    }

    /**
     * Closes the master once no read or write is inside it. A reader blocked in read() returns when the last
     * slave holder exits (the caller ends the process first), and then closes it.
     */
    @Override
    public void close() {
        synchronized (closeLock) {
            closeRequested = true;
            if (inFlight == 0) closeNow();
        }
    }

    private void closeNow() {
        if (closed) return;
        closed = true;
        try {
            C.close(master);
        } catch (LastErrorException ignored) {
            // already gone
        }
    }
}
