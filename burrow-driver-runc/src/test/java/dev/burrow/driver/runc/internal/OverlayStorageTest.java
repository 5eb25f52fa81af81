package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.testing.HostRequirements;

/** Real overlay mounts (needs root): the image layer is never written and release leaves nothing. */
class OverlayStorageTest {
    private Path base;
    private Path vmsDir;
    private Path lower;
    private OverlayStorage storage;
    private UnpackedImage image;

    @BeforeEach
    void setUp() throws IOException {
        HostRequirements.requireRoot();
        HostRequirements.requireCommand("mount");
        base = Files.createTempDirectory("burrow-overlay-test-").toRealPath();
        vmsDir = Files.createDirectories(base.resolve("vms"));
        lower = Files.createDirectories(base.resolve("image/rootfs"));
        Files.createDirectories(lower.resolve("etc"));
        Files.writeString(lower.resolve("etc/os-release"), "image");
        image = new UnpackedImage("test", "sha256:" + "1".repeat(64), lower, Map.of(), "/", List.of(), "0");
        storage = new OverlayStorage(vmsDir);
    }

    @AfterEach
    void tearDown() {
        if (base == null) return;
        for (MountTable.Mount m : MountTable.read().under(base)) {
            HostCommand.of("umount", "-l", m.mountPoint().toString()).run();
        }
        SafeDelete.deleteTree(base);
    }

    @Test
    void writesGoToTheUpperLayerAndTheImageIsNeverTouched() throws IOException {
        Path root = storage.prepare("vm1", image);
        assertThat(root).isEqualTo(vmsDir.resolve("vm1/rootfs"));
        assertThat(MountTable.read().isMountPoint(root)).isTrue();
        assertThat(root.resolve("etc/os-release")).hasContent("image");

        Files.writeString(root.resolve("etc/os-release"), "changed");
        Files.writeString(root.resolve("new.txt"), "new");
        Files.delete(root.resolve("etc/os-release"));
        assertThat(lower.resolve("etc/os-release")).hasContent("image");
        try (var files = Files.list(lower)) {
            assertThat(files).containsExactly(lower.resolve("etc"));
        }
        assertThat(vmsDir.resolve("vm1/upper/new.txt")).hasContent("new");

        assertThat(storage.prepare("vm1", image)).as("idempotent").isEqualTo(root);
        assertThat(MountTable.read().under(root)).hasSize(1);
        assertThat(storage.list()).containsExactly(new HostResource(HostResource.Kind.MOUNT, "vm1", root.toString()));
    }

    @Test
    void aSnapshotsOwnBytesAreWhatTheVmWroteAndStayAfterTheVmIsGone() throws IOException {
        Path root = storage.prepare("vm1", image);
        Files.write(root.resolve("blob"), new byte[300_000]);
        assertThat(storage.snapshotUsedBytes("s1")).as("no such snapshot").isEqualTo(-1);
        storage.snapshot("vm1", "s1");
        long vm = storage.usedBytes("vm1");
        assertThat(vm).isGreaterThanOrEqualTo(300_000);
        assertThat(storage.snapshotUsedBytes("s1")).isEqualTo(vm);
        storage.release("vm1");
        assertThat(storage.snapshotUsedBytes("s1")).isEqualTo(vm);
        storage.deleteSnapshot("s1");
        assertThat(storage.snapshotUsedBytes("s1")).isEqualTo(-1);
    }

    @Test
    void ensureMountedBringsARootBackAfterItsMountWasLost() throws IOException {
        Path root = storage.prepare("vm1", image);
        Files.writeString(root.resolve("kept"), "yes");
        HostCommand.of("umount", root.toString()).check();
        assertThat(root.resolve("kept")).doesNotExist();
        assertThat(storage.exists("vm1")).isTrue();
        assertThat(storage.ensureMounted("vm1")).isEqualTo(root);
        assertThat(root.resolve("kept")).hasContent("yes");
        assertThatThrownBy(() -> storage.ensureMounted("other")).isInstanceOf(DriverException.class);
    }

    @Test
    void releaseRemovesEverythingAndIsIdempotent() {
        storage.prepare("vm1", image);
        storage.release("vm1");
        storage.release("vm1");
        assertThat(storage.exists("vm1")).isFalse();
        assertThat(MountTable.read().under(vmsDir)).isEmpty();
        assertThat(vmsDir.resolve("vm1")).isEmptyDirectory();
        assertThat(lower.resolve("etc/os-release")).hasContent("image");
        storage.release("never-created");
    }

    @Test
    void releaseRefusesToDeleteThroughAForeignMount() throws IOException {
        storage.prepare("vm1", image);
        Path trap = Files.createDirectories(vmsDir.resolve("vm1/upper/trap"));
        HostCommand.of("mount", "-t", "tmpfs", "tmpfs", trap.toString()).check();
        Files.writeString(trap.resolve("precious"), "keep me");

        assertThatThrownBy(() -> storage.release("vm1")).isInstanceOf(DriverException.class)
                .hasMessageContaining("still mounted");
        assertThat(trap.resolve("precious")).hasContent("keep me");

        HostCommand.of("umount", trap.toString()).check();
        storage.release("vm1");
        assertThat(vmsDir.resolve("vm1")).isEmptyDirectory();
    }
}
