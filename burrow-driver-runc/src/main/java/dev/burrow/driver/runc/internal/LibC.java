package dev.burrow.driver.runc.internal;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Structure;

/** The few libc calls the JDK (before its FFM API) cannot make: pseudo-terminals, ioctl, setns, kill. */
public interface LibC extends Library {
    LibC INSTANCE = Native.load("c", LibC.class);

    int O_RDWR = 0x2;
    int O_NOCTTY = 0x400;
    int O_CLOEXEC = 0x80000;
    int O_RDONLY = 0;
    long TIOCSWINSZ = 0x5414;
    int CLONE_NEWNET = 0x40000000;
    int EINTR = 4;
    int EAGAIN = 11;

    int posix_openpt(int flags) throws LastErrorException;

    int grantpt(int fd) throws LastErrorException;

    int unlockpt(int fd) throws LastErrorException;

    int ptsname_r(int fd, byte[] buf, NativeLong buflen) throws LastErrorException;

    int ioctl(int fd, NativeLong request, Winsize winsize) throws LastErrorException;

    NativeLong read(int fd, byte[] buf, NativeLong count) throws LastErrorException;

    NativeLong write(int fd, byte[] buf, NativeLong count) throws LastErrorException;

    int open(String path, int flags) throws LastErrorException;

    int close(int fd) throws LastErrorException;

    int setns(int fd, int nstype) throws LastErrorException;

    int kill(int pid, int signal) throws LastErrorException;

    /** struct winsize. */
    @Structure.FieldOrder({"ws_row", "ws_col", "ws_xpixel", "ws_ypixel"})
    class Winsize extends Structure {
        public short ws_row;
        public short ws_col;
        public short ws_xpixel;
        public short ws_ypixel;

        public Winsize(int cols, int rows) {
            ws_col = (short) cols;
            ws_row = (short) rows;
        }
    }
}
