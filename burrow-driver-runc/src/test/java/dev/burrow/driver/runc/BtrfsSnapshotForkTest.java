package dev.burrow.driver.runc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Snapshots on btrfs: read-only subvolume snapshots, O(1) whatever the VM wrote. */
class BtrfsSnapshotForkTest extends SnapshotForkContract {
    @Override
    RuncDriverConfig.Storage storage() {
        return RuncDriverConfig.Storage.BTRFS;
    }

    @Override
    String snapshotPath(String snapshotId) {
        return host.dataDir.resolve("btrfs/snapshots").resolve(snapshotId).toString();
    }

    @Override
    List<String> leftoverSnapshotData() {
        try (Stream<Path> s = Files.list(host.dataDir.resolve("btrfs/snapshots"))) {
            return s.map(Path::toString).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
