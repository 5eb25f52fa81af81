package dev.burrow.core.driver;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * How a shell command reaches {@code /bin/sh} in a VM. Linux refuses one argv string over 128 KiB (MAX_ARG_STRLEN,
 * E2BIG "Argument list too long"), so a longer command cannot be {@code sh -c <command>}: it is sent over the
 * process's stdin instead, to a short {@code sh -c} that reads all of it, then runs it with stdin from /dev/null —
 * what an inline command gets too — so the command sees the same stdin, {@code $0} and exit status either way.
 */
public final class ShellCommand {
    /** Commands up to this many UTF-8 bytes go inline as argv; well below the kernel's limit. */
    public static final int MAX_INLINE_BYTES = 64 * 1024;
    /** The expansion reads the whole script before the redirection gives the eval'd command /dev/null. */
    static final String FROM_STDIN = "eval \"$(cat)\" </dev/null";

    private ShellCommand() { }

    /** True when {@code command} fits one argv string. */
    public static boolean inline(String command) {
        return command.length() <= MAX_INLINE_BYTES / 3 || command.getBytes(StandardCharsets.UTF_8).length <= MAX_INLINE_BYTES;
    }

    /** The argv that runs {@code command}: the command itself, or the reader of stdin when it is too long. */
    public static List<String> argv(String command) {
        return List.of("/bin/sh", "-c", inline(command) ? command : FROM_STDIN);
    }

    /** What the process must get on stdin (then EOF) for {@link #argv}: null when the command is inline. */
    public static byte[] stdin(String command) {
        return inline(command) ? null : command.getBytes(StandardCharsets.UTF_8);
    }
}
