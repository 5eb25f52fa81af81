package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * Resolves a path of the files API to a host path inside a VM's root, with the semantics of
 * filepath-securejoin: the path is walked one component at a time and every symlink met on the way (also
 * the last component) is read and resolved again <em>relative to the VM root</em> — an absolute target
 * starts over at the VM root and {@code ..} never climbs above it — so the result always lies inside the
 * root whatever links the VM made. The result contains no symlink at the moment of resolution; callers
 * still open the final component with {@link LinkOption#NOFOLLOW_LINKS} and keep the VM frozen, because
 * a running VM could swap a component for a link after this returns.
 */
public final class ConfinedPath {
    /** Linux's own limit (MAXSYMLINKS) on links followed in one lookup. */
    public static final int MAX_SYMLINK_HOPS = 40;
    public static final ErrorCode BAD_REQUEST = ErrorCode.FILES_BAD_REQUEST;
    private static final int MAX_PATH_BYTES = 4096;
    private static final int MAX_NAME_BYTES = 255;

    public enum Mode {
        /** Resolve only: a missing or non-directory intermediate component means the path is not found. */
        LOOKUP,
        /** Create missing intermediate directories (mode 0755), one confined component at a time. */
        CREATE_PARENTS
    }

    private ConfinedPath() { }

    /**
     * Checks a request path and splits it into components. A relative path is taken relative to "/";
     * {@code .} and empty components are dropped; {@code ..} is refused outright rather than interpreted,
     * as are NUL bytes and over-long names.
     */
    public static List<String> components(String requestPath) {
        if (requestPath == null || requestPath.isEmpty()) throw bad("path is empty");
        if (requestPath.indexOf('\0') >= 0) throw bad("path contains a NUL byte");
        if (requestPath.getBytes(StandardCharsets.UTF_8).length > MAX_PATH_BYTES) throw bad("path is too long");
        List<String> parts = new ArrayList<>();
        for (String part : requestPath.split("/")) {
            if (part.isEmpty() || part.equals(".")) continue;
            if (part.equals("..")) throw bad("path must not contain '..': " + requestPath);
            if (part.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) throw bad("name too long in " + requestPath);
            parts.add(part);
        }
        return parts;
    }

    /**
     * The host path {@code requestPath} denotes inside {@code root}, every symlink resolved confined to
     * {@code root}. The final component may not exist. {@code root} must be absolute and free of symlinks.
     */
    public static Path resolve(Path root, String requestPath, Mode mode) {
        Deque<String> remaining = new ArrayDeque<>(components(requestPath));
        List<String> resolved = new ArrayList<>();
        int hops = 0;
        try {
            while (!remaining.isEmpty()) {
                String name = remaining.pollFirst();
                if (name.equals("..")) {
                    // Only link targets carry "..": like the kernel at "/", it stops at the VM root.
                    if (!resolved.isEmpty()) resolved.remove(resolved.size() - 1);
                    continue;
                }
                Path candidate = join(root, resolved).resolve(name);
                BasicFileAttributes attrs = attributes(candidate);
                boolean last = remaining.isEmpty();
                if (attrs != null && attrs.isSymbolicLink()) {
                    if (++hops > MAX_SYMLINK_HOPS) {
                        throw bad("too many levels of symbolic links: " + requestPath);
                    }
                    String target = Files.readSymbolicLink(candidate).toString();
                    if (target.isEmpty()) throw notFound(requestPath);
                    if (target.startsWith("/")) resolved.clear();
                    String[] parts = target.split("/");
                    for (int i = parts.length - 1; i >= 0; i--) {
                        if (!parts[i].isEmpty() && !parts[i].equals(".")) remaining.addFirst(parts[i]);
                    }
                    continue;
                }
                if (!last) {
                    if (attrs == null) {
                        if (mode == Mode.LOOKUP) throw notFound(requestPath);
                        createDirectory(candidate);
                    } else if (!attrs.isDirectory()) {
                        if (mode == Mode.LOOKUP) throw notFound(requestPath);
                        throw bad("not a directory: /" + String.join("/", resolved) + "/" + name);
                    }
                }
                resolved.add(name);
            }
        } catch (IOException e) {
            throw failure(requestPath, e);
        }
        return join(root, resolved);
    }

    /** Attributes of {@code p} itself (a link is reported as a link), or null when it does not exist. */
    static BasicFileAttributes attributes(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** Maps an I/O failure on a request path to the error the API should show. */
    static BurrowException failure(String requestPath, IOException e) {
        if (e instanceof NoSuchFileException) return notFound(requestPath);
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            String reason = fse.getReason();
            if (reason.contains("Not a directory") || reason.contains("File name too long")
                    || reason.contains("Too many levels of symbolic links") || reason.contains("Is a directory")) {
                return bad(reason + ": " + requestPath);
            }
        }
        String reason = e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason() : e.getMessage();
        if (reason != null && (reason.contains("No space left on device") || reason.contains("Disk quota exceeded"))) {
            return diskFull(requestPath, e);
        }
        return new DriverException("file operation on " + requestPath + " failed: " + e, e);
    }

    /** ENOSPC/EDQUOT: the VM's disk (its quota or the filesystem under it) is full — the client can free space. */
    static BurrowException diskFull(String requestPath, IOException e) {
        return new BurrowException(ErrorCode.DISK_FULL, "no space left on the VM's disk writing " + requestPath
                + ": delete files in the VM or grow its disk (POST /v1/vms/{id}/resize)", e);
    }

    static BurrowException bad(String message) {
        return BurrowException.of(BAD_REQUEST, message);
    }

    static BurrowException notFound(String requestPath) {
        return BurrowException.of(ErrorCode.FILE_NOT_FOUND, "File not found: " + requestPath);
    }

    private static void createDirectory(Path dir) throws IOException {
        try {
            // mkdir(2) fails on an existing name, also a link, so this never creates through a link.
            Files.createDirectory(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (FileAlreadyExistsException e) {
            BasicFileAttributes attrs = attributes(dir);
            if (attrs == null || !attrs.isDirectory()) throw bad("cannot create directory " + dir.getFileName());
        }
    }

    private static Path join(Path root, List<String> components) {
        Path p = root;
        for (String c : components) p = p.resolve(c);
        return p;
    }
}
