package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.error.BurrowException;

/** Snapshots on overlayfs: a copied upper directory, stacked as a lower layer under the forks. */
class OverlaySnapshotForkTest extends SnapshotForkContract {
    @Override
    RuncDriverConfig.Storage storage() {
        return RuncDriverConfig.Storage.OVERLAY;
    }

    @Override
    String snapshotPath(String snapshotId) {
        return host.dataDir.resolve("snapshots").resolve(snapshotId).toString();
    }

    @Override
    List<String> leftoverSnapshotData() {
        try (Stream<Path> s = Files.list(host.dataDir.resolve("snapshots"))) {
            return s.map(Path::toString).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void aDiskQuotaIsRefusedNotIgnored() {
        assertThat(driver.capabilities().diskQuota()).isFalse();
        String vm = RuncTestHost.newVmId();
        assertThatThrownBy(() -> driver.create(new SandboxSpec(vm, RuncTestHost.IMAGE, 1, 256, 0, Map.of(), null, null, 64, null)))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("UNSUPPORTED_FIELD"));
        assertThat(host.leftovers(vm)).isEmpty();
    }

    @Test
    void aDeletedSnapshotsLayerStaysWhileAVmUsesItAndGoesWithTheLastOne() {
        String source = RuncTestHost.newVmId();
        driver.create(host.spec(source));
        host.ok(source, "echo kept > /root/f");
        driver.snapshot(source, "s1");
        String fork = RuncTestHost.newVmId();
        driver.create(fromSnapshot(fork, "s1"));
        driver.deleteSnapshot("s1");
        Path layer = host.dataDir.resolve("snapshots/s1/layer");
        assertThat(layer.resolve("root/f")).as("still the fork's lower layer").hasContent("kept");
        assertThatThrownBy(() -> driver.snapshot(source, "s1")).as("the id is still taken")
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SNAPSHOT_EXISTS"));
        driver.destroy(fork);
        assertThat(host.dataDir.resolve("snapshots/s1")).doesNotExist();
    }
}
