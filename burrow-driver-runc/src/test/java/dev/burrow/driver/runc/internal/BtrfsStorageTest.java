package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.HostResource;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.testing.HostRequirements;

/** The btrfs storage on a real loop image (needs root and btrfs-progs), without runc. */
class BtrfsStorageTest {
    private Path base;
    private Path dataDir;
    private Path vmsDir;
    private UnpackedImage image;
    private BtrfsStorage storage;

    @BeforeEach
    void setUp() throws IOException {
        HostRequirements.requireRoot();
        HostRequirements.requireCommand("mkfs.btrfs");
        base = Files.createTempDirectory("burrow-btrfs-test-").toRealPath();
        dataDir = Files.createDirectories(base.resolve("data"));
        vmsDir = dataDir.resolve("vms");
        Path rootfs = Files.createDirectories(base.resolve("image/rootfs"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(rootfs.resolve("etc/os-release"), "image");
        // Large enough that two concurrent copies would overlap in time.
        try (var f = new java.io.RandomAccessFile(rootfs.resolve("blob").toFile(), "rw")) {
            f.write(new byte[8 * 1024 * 1024]);
        }
        image = new UnpackedImage("test:img", "sha256:" + "ab".repeat(32), rootfs, Map.of("A", "1"), "/srv",
                List.of("sh"), "0");
        storage = BtrfsStorage.open(vmsDir, dataDir, 1024);
    }

    @AfterEach
    void tearDown() {
        if (base == null) return;
        if (storage != null) {
            try {
                for (HostResource r : storage.list()) {
                    if (r.kind() == HostResource.Kind.SNAPSHOT) storage.deleteSnapshot(r.vmId());
                    else storage.release(r.vmId());
                }
            } finally {
                storage.close();
            }
        }
        for (MountTable.Mount m : MountTable.read().under(base)) HostCommand.of("umount", "-l", m.mountPoint().toString()).run();
        SafeDelete.deleteTree(base);
    }

    @Test
    void concurrentCreatesOfOneNewImageCopyItOnceAndNeverExposeAHalfCopy() throws Exception {
        int n = 4;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Path>> roots = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String vm = "vm" + i;
            roots.add(pool.submit(() -> {
                go.await();
                return storage.prepare(vm, image, null);
            }));
        }
        go.countDown();
        for (Future<Path> f : roots) assertThat(f.get().resolve("etc/os-release")).hasContent("image");
        pool.shutdown();
        assertThat(children(storage.root().resolve("images"))).containsExactly("sha256-" + "ab".repeat(32));

        Path baseImage = storage.root().resolve("images/sha256-" + "ab".repeat(32));
        assertThatThrownBy(() -> Files.writeString(baseImage.resolve("etc/os-release"), "changed"))
                .as("the base subvolume is read-only").isInstanceOf(IOException.class);
        Files.writeString(roots.get(0).get().resolve("etc/os-release"), "vm0");
        assertThat(roots.get(1).get().resolve("etc/os-release")).hasContent("image");
    }

    @Test
    void leftoversOfACrashAreRemovedAndNeverUsed() throws IOException {
        // A crash mid-copy leaves a temporary subvolume (not named like the digest), and a crash mid-snapshot
        // a temporary snapshot directory; neither may be taken for the real thing.
        Path images = storage.root().resolve("images");
        Path halfCopied = images.resolve(".tmp-sha256-" + "ab".repeat(32) + "-deadbeef");
        HostCommand.of("btrfs", "subvolume", "create", halfCopied.toString()).check();
        Path halfSnapshot = Files.createDirectories(storage.root().resolve("snapshots/.tmp-s1-deadbeef"));
        HostCommand.of("btrfs", "subvolume", "create", halfSnapshot.resolve("disk").toString()).check();
        storage.close();

        storage = BtrfsStorage.open(vmsDir, dataDir, 1024);
        assertThat(children(images)).isEmpty();
        assertThat(children(storage.root().resolve("snapshots"))).isEmpty();
        assertThat(storage.findSnapshot("s1")).isEmpty();
        assertThat(storage.prepare("vm1", image, null).resolve("blob")).hasSize(8 * 1024 * 1024);
    }

    @Test
    void snapshotsAreReadOnlyIndependentAndCarryTheImageConfig() throws IOException {
        Path root = storage.prepare("vm1", image, null);
        Files.writeString(root.resolve("mine"), "v1");
        RootfsStorage.SnapshotInfo info = storage.snapshot("vm1", "s1");
        assertThat(info.image().env()).containsEntry("A", "1");
        assertThat(info.image().workdir()).isEqualTo("/srv");
        assertThat(info.image().rootfs()).isNull();
        assertThat(storage.snapshot("vm1", "s1")).as("idempotent").isEqualTo(info);
        Path disk = storage.root().resolve("snapshots/s1/disk");
        assertThatThrownBy(() -> Files.writeString(disk.resolve("mine"), "x")).isInstanceOf(IOException.class);

        Files.writeString(root.resolve("mine"), "v2");
        Path forkRoot = storage.prepareFromSnapshot("vm2", "s1", null);
        assertThat(forkRoot.resolve("mine")).hasContent("v1");
        storage.release("vm1");
        storage.deleteSnapshot("s1");
        assertThat(forkRoot.resolve("mine")).as("a fork does not depend on its snapshot or source").hasContent("v1");
        assertThat(storage.list()).containsExactly(new HostResource(HostResource.Kind.VOLUME, "vm2", forkRoot.toString()));
        assertThatThrownBy(() -> storage.prepareFromSnapshot("vm3", "s1", null))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SNAPSHOT_NOT_FOUND"));
        assertThat(storage.exists("vm3")).isFalse();
    }

    @Test
    void releaseDeletesSubvolumesAVmNestedInsideItsRoot() throws IOException {
        Path root = storage.prepare("vm1", image, 64);
        // Any user may create a subvolume in a directory it can write; a VM can too.
        HostCommand.of("btrfs", "subvolume", "create", root.resolve("nested").toString()).check();
        HostCommand.of("btrfs", "subvolume", "create", root.resolve("nested/deeper").toString()).check();
        storage.release("vm1");
        storage.release("vm1");
        assertThat(storage.exists("vm1")).isFalse();
        assertThat(storage.root().resolve("vms/vm1")).doesNotExist();
        storage.awaitReclaim();
        assertThat(storage.qgroups().lines().filter(l -> l.startsWith("0/")).toList())
                .as("only the top level and the base image keep qgroups").hasSize(2);
    }

    @Test
    void aDataDirAlreadyOnBtrfsIsUsedDirectlyWithoutALoopImage() throws IOException {
        Path outer = Files.createDirectories(base.resolve("outer"));
        Path img = base.resolve("outer.img");
        try (var f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(1024L * 1024 * 1024);
        }
        HostCommand.of("mkfs.btrfs", "-q", img.toString()).check();
        HostCommand.of("mount", "-o", "loop", img.toString(), outer.toString()).check();
        Path direct = Files.createDirectories(outer.resolve("data"));
        BtrfsStorage onBtrfs = BtrfsStorage.open(direct.resolve("vms"), direct, 1024);
        try {
            assertThat(onBtrfs.loopImage()).isEmpty();
            assertThat(direct.resolve("btrfs.img")).doesNotExist();
            Path root = onBtrfs.prepare("vm1", image, 32);
            assertThat(root).isEqualTo(direct.resolve("btrfs/vms/vm1"));
            Files.writeString(root.resolve("mine"), "v1");
            onBtrfs.snapshot("vm1", "s1");
            assertThat(onBtrfs.prepareFromSnapshot("vm2", "s1", null).resolve("mine")).hasContent("v1");
            assertThatThrownBy(() -> Files.write(root.resolve("big"), new byte[40 * 1024 * 1024]))
                    .as("the quota holds on a direct btrfs too").isInstanceOf(IOException.class);
            onBtrfs.release("vm1");
            onBtrfs.release("vm2");
            onBtrfs.deleteSnapshot("s1");
            assertThat(onBtrfs.list()).isEmpty();
        } finally {
            onBtrfs.close();
            HostCommand.of("umount", outer.toString()).check();
        }
    }

    private static List<String> children(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
