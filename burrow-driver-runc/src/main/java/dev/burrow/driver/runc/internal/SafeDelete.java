package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;

import dev.burrow.core.driver.DriverException;

/**
 * Recursive delete that refuses to run while anything is mounted at or below the directory. VM directories
 * hold overlay mount points whose lower layer is a shared image; deleting through a live mount would erase
 * the VM's view of that image's files or, with a bind mount, whatever the mount exposes. Symlinks are
 * removed, never followed (a VM can plant a link to {@code /} in its writable layer).
 */
public final class SafeDelete {
    private SafeDelete() { }

    /** Deletes {@code dir} and everything below it; succeeds if it does not exist. */
    public static void deleteTree(Path dir) {
        Path d = dir.toAbsolutePath().normalize();
        if (!Files.exists(d, LinkOption.NOFOLLOW_LINKS)) return;
        try {
            // Mount points in mountinfo are canonical; so must be the path compared with them. The last
            // component stays as is: if it is a link, only the link is deleted.
            if (d.getParent() != null) d = d.getParent().toRealPath().resolve(d.getFileName());
        } catch (IOException e) {
            throw new DriverException("cannot resolve " + d + ": " + e.getMessage(), e);
        }
        List<MountTable.Mount> mounted = MountTable.read().under(d);
        if (!mounted.isEmpty()) {
            throw new DriverException("refusing to delete " + d + ": still mounted below it: "
                    + mounted.stream().map(m -> m.mountPoint().toString()).toList());
        }
        try {
            Object device = Files.getAttribute(d, "unix:dev", LinkOption.NOFOLLOW_LINKS);
            Files.walkFileTree(d, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path sub, BasicFileAttributes attrs) throws IOException {
                    // A second guard besides the mount table: a directory on another device is a mount that
                    // appeared after the check, and its contents are not ours to delete.
                    Object subDevice = Files.getAttribute(sub, "unix:dev", LinkOption.NOFOLLOW_LINKS);
                    if (!subDevice.equals(device)) {
                        throw new DriverException("refusing to delete " + sub + ": it is on another filesystem");
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                    if (e instanceof NoSuchFileException) return FileVisitResult.CONTINUE;
                    throw e;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path sub, IOException e) throws IOException {
                    if (e != null && !(e instanceof NoSuchFileException)) throw e;
                    Files.deleteIfExists(sub);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException e) {
            // removed concurrently: the goal is reached
        } catch (IOException e) {
            throw new DriverException("cannot delete " + d + ": " + e.getMessage(), e);
        }
    }
}
