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
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

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

    /**
     * Opens a regular file for reading (or lists a directory), for a transfer that streams it after the VM is thawed:
     * once open, the descriptor names the file's inode, so links the VM makes later cannot redirect it. The stream
     * ends at the size the file had when opened.
     */
    public static OpenFile open(Path root, String path, long maxBytes) {
        Path target = ConfinedPath.resolve(root, path, ConfinedPath.Mode.LOOKUP);
        try {
            BasicFileAttributes attrs = ConfinedPath.attributes(target);
            if (attrs == null) throw ConfinedPath.notFound(path);
            if (attrs.isDirectory()) return new OpenFile.Listing(list(target));
            // Checked before opening: opening a FIFO would block, a device would read the host's device.
            if (!attrs.isRegularFile()) throw ConfinedPath.bad("not a regular file or directory: " + path);
            if (attrs.size() > maxBytes) throw tooLarge(path, maxBytes);
            FileChannel ch = FileChannel.open(target, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
            return new OpenFile.Bytes(attrs.size(), new BoundedChannelInput(ch, attrs.size()));
        } catch (IOException e) {
            throw ConfinedPath.failure(path, e);
        }
    }

    /**
     * A write under way: a fresh temporary file beside the target (created with the VM frozen), written while it
     * runs, renamed over the target by {@link #commitWrite} with the VM frozen again.
     *
     * @param tmpName the temporary file's name in the target's directory
     * @param fileKey the temporary file's identity (device, inode): the rename happens only if the name still
     *                denotes it, so a VM that moved or replaced things meanwhile cannot redirect it
     */
    public record PendingWrite(String path, String tmpName, Object fileKey, FileChannel channel) { }

    /** First step of a streamed write (VM held): checks the target and opens its temporary file. */
    public static PendingWrite beginWrite(Path root, String path) {
        Path target = ConfinedPath.resolve(root, path, ConfinedPath.Mode.CREATE_PARENTS);
        if (target.equals(root)) throw ConfinedPath.bad("cannot write to a directory: " + path);
        try {
            checkWritable(target, path);
            // createTempFile uses O_CREAT|O_EXCL, which never follows a link.
            Path tmp = Files.createTempFile(target.getParent(), ".burrow-write-", ".tmp");
            try {
                Object key = ConfinedPath.attributes(tmp).fileKey();
                FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
                return new PendingWrite(path, tmp.getFileName().toString(), key, ch);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
        } catch (IOException e) {
            throw ConfinedPath.failure(path, e);
        }
    }

    /**
     * Last step (VM held): resolves the target again and renames the temporary file over it, if the name beside it
     * still denotes the file that was written; sets the mode first.
     */
    public static void commitWrite(Path root, PendingWrite w, boolean executable) {
        Path target = ConfinedPath.resolve(root, w.path(), ConfinedPath.Mode.CREATE_PARENTS);
        if (target.equals(root)) throw ConfinedPath.bad("cannot write to a directory: " + w.path());
        Path tmp = target.getParent().resolve(w.tmpName());
        try {
            BasicFileAttributes t = ConfinedPath.attributes(tmp);
            if (t == null || !t.isRegularFile() || !w.fileKey().equals(t.fileKey())) {
                throw BurrowException.of(ErrorCode.FILE_CHANGED_DURING_WRITE, "the directory of " + w.path()
                        + " changed inside the VM while the file was uploaded; nothing was written, retry");
            }
            checkWritable(target, w.path());
            // tmp is checked to be a regular file (not a link) while the VM is held, so this cannot follow a link
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(executable ? "rwxr-xr-x" : "rw-r--r--"));
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw ConfinedPath.failure(w.path(), e);
        }
    }

    /** Removes a failed write's temporary file (VM held), if its name still denotes it. */
    public static void abortWrite(Path root, PendingWrite w) {
        try {
            Path target = ConfinedPath.resolve(root, w.path(), ConfinedPath.Mode.LOOKUP);
            Path tmp = target.getParent().resolve(w.tmpName());
            BasicFileAttributes t = ConfinedPath.attributes(tmp);
            if (t != null && t.isRegularFile() && w.fileKey().equals(t.fileKey())) Files.delete(tmp);
        } catch (IOException | RuntimeException e) {
            // the VM moved it: it is the VM's file now, inside its own root
        }
    }

    /** The error for a streamed transfer that failed on the VM's side (its file, its disk, the VM going away). */
    public static BurrowException transferFailure(String vmId, String path, IOException e) {
        if (e instanceof java.nio.channels.ClosedChannelException) {
            return BurrowException.of(ErrorCode.FILE_TRANSFER_ABORTED,
                    "VM " + vmId + " was deleted while " + path + " was transferred");
        }
        return ConfinedPath.failure(path, e);
    }

    private static void checkWritable(Path target, String path) throws IOException {
        BasicFileAttributes attrs = ConfinedPath.attributes(target);
        if (attrs != null && attrs.isDirectory()) throw ConfinedPath.bad("cannot write to a directory: " + path);
        if (attrs != null && !attrs.isRegularFile() && !attrs.isSymbolicLink()) {
            throw ConfinedPath.bad("not a regular file: " + path);
        }
    }

    /** A file channel read as a stream, ending after {@code limit} bytes. */
    private static final class BoundedChannelInput extends java.io.InputStream {
        private final FileChannel channel;
        private long remaining;

        BoundedChannelInput(FileChannel channel, long limit) {
            this.channel = channel;
            this.remaining = limit;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) return 0;
            if (remaining <= 0) return -1;
            int n = channel.read(ByteBuffer.wrap(b, off, (int) Math.min(len, remaining)));
            if (n > 0) remaining -= n;
            return n < 0 ? -1 : n;
        }

        @Override
        public void close() throws IOException {
            channel.close();
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
        return new BurrowException(ErrorCode.FILE_TOO_LARGE,
                "File " + path + " is larger than " + maxBytes + " bytes");
    }
}
