package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import dev.burrow.core.driver.FileContent;
import dev.burrow.core.error.BurrowException;

/**
 * The files API against a VM root seen from the host. Paths are resolved with {@link ConfinedPath}; the
 * caller keeps the VM frozen (or stopped) for the duration so no component can change underneath.
 */
public final class SandboxFiles {
    private SandboxFiles() { }

    /** A regular file's bytes or a directory's entries (sorted by name); see {@code SandboxDriver#read}. */
    public static FileContent read(Path root, String path, long maxBytes) {
        Path target = ConfinedPath.resolve(root, path, ConfinedPath.Mode.LOOKUP);
        try {
            BasicFileAttributes attrs = ConfinedPath.attributes(target);
            if (attrs == null) throw ConfinedPath.notFound(path);
            if (attrs.isDirectory()) return new FileContent.Directory(list(target));
            // Checked before opening: opening a FIFO would block, a device would read the host's device.
            if (!attrs.isRegularFile()) throw ConfinedPath.bad("not a regular file or directory: " + path);
            // A byte[] holds at most ~2 GiB; larger limits are treated as that.
            long limit = Math.min(maxBytes, Integer.MAX_VALUE - 16);
            if (attrs.size() > limit) throw tooLarge(path, maxBytes);
            try (FileChannel ch = FileChannel.open(target, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                // Bounded by limit + 1 whatever the size said, in case the file grew since.
                ByteBuffer buf = ByteBuffer.allocate((int) Math.min(limit + 1, attrs.size() + 1));
                while (true) {
                    if (!buf.hasRemaining()) {
                        if (buf.capacity() > limit) break;
                        buf = grow(buf, limit);
                    }
                    if (ch.read(buf) < 0) break;
                }
                if (buf.position() > limit) throw tooLarge(path, maxBytes);
                byte[] bytes = new byte[buf.position()];
                buf.flip().get(bytes);
                return new FileContent.RegularFile(bytes);
            }
        } catch (IOException e) {
            throw ConfinedPath.failure(path, e);
        }
    }

    /**
     * Creates or replaces a regular file (mode 0644, or 0755 when executable), creating missing parents.
     * The bytes go to a fresh temporary file in the target directory first, then rename(2) replaces the
     * target atomically: readers never see a half-written file, and rename replaces a final symlink
     * rather than writing through it.
     */
    public static void write(Path root, String path, byte[] content, boolean executable) {
        Path target = ConfinedPath.resolve(root, path, ConfinedPath.Mode.CREATE_PARENTS);
        if (target.equals(root)) throw ConfinedPath.bad("cannot write to a directory: " + path);
        Path tmp = null;
        try {
            BasicFileAttributes attrs = ConfinedPath.attributes(target);
            if (attrs != null && attrs.isDirectory()) throw ConfinedPath.bad("cannot write to a directory: " + path);
            if (attrs != null && !attrs.isRegularFile() && !attrs.isSymbolicLink()) {
                throw ConfinedPath.bad("not a regular file: " + path);
            }
            // createTempFile uses O_CREAT|O_EXCL, which never follows a link.
            tmp = Files.createTempFile(target.getParent(), ".burrow-write-", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) ch.write(buf);
            }
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(executable ? "rwxr-xr-x" : "rw-r--r--"));
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            tmp = null;
        } catch (IOException e) {
            throw ConfinedPath.failure(path, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original failure is what the caller needs to see
                }
            }
        }
    }

    private static List<FileContent.Entry> list(Path dir) throws IOException {
        List<FileContent.Entry> entries = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            for (Path p : stream) {
                BasicFileAttributes a = ConfinedPath.attributes(p);
                // A link is listed as what it is, not followed: its target may only make sense inside the VM.
                entries.add(new FileContent.Entry(p.getFileName().toString(), a != null && a.isDirectory()));
            }
        }
        entries.sort(Comparator.comparing(FileContent.Entry::name));
        return entries;
    }

    private static ByteBuffer grow(ByteBuffer buf, long limit) {
        int capacity = (int) Math.min(limit + 1, Math.max(buf.capacity() * 2L, 8192));
        ByteBuffer bigger = ByteBuffer.allocate(capacity);
        buf.flip();
        bigger.put(buf);
        return bigger;
    }

    private static BurrowException tooLarge(String path, long maxBytes) {
        return new BurrowException(BurrowException.Kind.TOO_LARGE, "FILE_TOO_LARGE",
                "File " + path + " is larger than " + maxBytes + " bytes");
    }
}
