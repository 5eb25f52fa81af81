package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Copies a host directory tree into a VM's root (a git checkout at create). The target is resolved with
 * {@link ConfinedPath} (the VM's links are followed as if its root were "/", never out of it) and must be missing or
 * an empty directory; everything below it is then created by this copy while the VM is frozen, so no link the VM
 * made can sit on the way. Links in the source are recreated as links (never followed on the host); directories
 * keep 0755, files 0644 or 0755 when executable for their owner, as git checks them out.
 */
public final class TreeCopy {
    private TreeCopy() { }

    public static void copy(Path root, Path source, String path) {
        Path target = ConfinedPath.resolve(root, path, ConfinedPath.Mode.CREATE_PARENTS);
        if (target.equals(root)) throw ConfinedPath.bad("cannot copy over the VM's root directory");
        try {
            BasicFileAttributes attrs = ConfinedPath.attributes(target);
            if (attrs == null) {
                Files.createDirectory(target);
            } else if (!attrs.isDirectory()) {
                throw ConfinedPath.bad(path + " exists in the VM and is not a directory");
            } else {
                try (var entries = Files.list(target)) {
                    if (entries.findAny().isPresent()) throw ConfinedPath.bad(path + " exists in the VM and is not empty");
                }
            }
            Files.walkFileTree(source, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes a) throws IOException {
                    if (!dir.equals(source)) {
                        Path d = target.resolve(source.relativize(dir).toString());
                        Files.createDirectory(d);
                        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes a) throws IOException {
                    Path dst = target.resolve(source.relativize(file).toString());
                    if (a.isSymbolicLink()) {
                        Files.createSymbolicLink(dst, Files.readSymbolicLink(file));
                    } else if (a.isRegularFile()) {
                        Files.copy(file, dst, LinkOption.NOFOLLOW_LINKS, StandardCopyOption.COPY_ATTRIBUTES);
                        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS);
                        Files.setPosixFilePermissions(dst, mode.contains(PosixFilePermission.OWNER_EXECUTE)
                                ? PosixFilePermissions.fromString("rwxr-xr-x") : PosixFilePermissions.fromString("rw-r--r--"));
                    }
                    // sockets, fifos, devices: a checkout has none, and none are created in a VM from outside
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw ConfinedPath.failure(path, e);
        }
    }
}
