package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;

import dev.burrow.core.driver.DriverException;

/**
 * How every storage makes a snapshot appear: built under a temporary name, then published by one atomic
 * rename, so a crash mid-copy never leaves a snapshot that looks complete. When a concurrent builder of the
 * same id won the rename, its snapshot is returned instead of failing.
 */
final class SnapshotPublication {
    private SnapshotPublication() { }

    @FunctionalInterface
    interface Build {
        void into(Path tmp) throws IOException;
    }

    static RootfsStorage.SnapshotInfo publish(String vmId, String snapshotId, Path tmp, Path target, Build build,
                                              Consumer<Path> discard,
                                              Supplier<Optional<RootfsStorage.SnapshotInfo>> find) {
        try {
            Files.createDirectory(tmp);
            build.into(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            discard.accept(tmp);
            if (e instanceof FileAlreadyExistsException || e instanceof DirectoryNotEmptyException) {
                Optional<RootfsStorage.SnapshotInfo> winner = find.get();
                if (winner.isPresent()) return winner.get();
            }
            if (e instanceof RuntimeException re) throw re;
            throw new DriverException("cannot snapshot VM " + vmId + " as " + snapshotId + ": " + e.getMessage(), e);
        }
        return find.get().orElseThrow();
    }
}
