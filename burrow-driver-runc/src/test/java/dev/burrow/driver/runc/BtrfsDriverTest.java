package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.driver.runc.internal.HostCommand;
import dev.burrow.driver.runc.internal.MountTable;

/** VMs on the btrfs storage (a loop image in the test's data dir) against real runc: roots, quotas, cleanup. */
class BtrfsDriverTest {
    private RuncTestHost host;
    private RuncDriver driver;
    private Path btrfs;

    @BeforeEach
    void setUp() throws IOException {
        host = RuncTestHost.start(RuncDriverConfig.Storage.BTRFS);
        driver = host.driver;
        btrfs = host.dataDir.resolve("btrfs");
    }

    @AfterEach
    void tearDown() {
        if (host != null) host.close();
    }

    @Test
    void autoPicksBtrfsHereAndAVmOnItWorks() throws IOException {
        try (RuncTestHost auto = RuncTestHost.start()) {
            assertThat(auto.driver.storageName()).as("auto, on a host with btrfs-progs and loop devices").isEqualTo("btrfs");
        }
        assertThat(driver.capabilities().diskQuota()).isTrue();
        assertThat(driver.capabilities().diskSnapshots()).isTrue();
        assertThat(MountTable.read().mounts()).anyMatch(m -> m.mountPoint().equals(btrfs) && m.fsType().equals("btrfs"));

        String vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
        Path root = host.rootfs(vm);
        assertThat(root).isEqualTo(btrfs.resolve("vms").resolve(vm));
        // busybox's stat names no btrfs; 9123683e is its magic number (BTRFS_SUPER_MAGIC).
        assertThat(host.ok(vm, "echo hi > /root/x && cat /root/x && stat -f -c %t /")).isEqualTo("hi\n9123683e\n");
        driver.writeFile(vm, "/root/y", "from host".getBytes(StandardCharsets.UTF_8), false);
        assertThat(host.ok(vm, "cat /root/y")).isEqualTo("from host");
        assertThat(((FileContent.RegularFile) driver.read(vm, "/root/x", 100)).bytes()).asString().isEqualTo("hi\n");
        assertThat(driver.list()).contains(new HostResource(HostResource.Kind.VOLUME, vm, root.toString()));

        // The image was copied once into a read-only base subvolume; the VM's writes never reach it.
        List<Path> bases;
        try (var s = Files.list(btrfs.resolve("images"))) {
            bases = s.toList();
        }
        assertThat(bases).hasSize(1);
        assertThat(bases.get(0).resolve("root/x")).doesNotExist();
        assertThat(HostCommand.of("btrfs", "property", "get", "-ts", bases.get(0).toString(), "ro").check().stdout())
                .isEqualTo("ro=true\n");
    }

    @Test
    void aVmWritingPastItsQuotaGetsAnErrorAndStaysUsable() throws IOException {
        String vm = RuncTestHost.newVmId();
        driver.create(new SandboxSpec(vm, RuncTestHost.IMAGE, 1, 256, 0, Map.of(), null, null, 64, null));
        ExecResult dd = host.sh(vm, "dd if=/dev/zero of=/root/fill bs=1M count=200 && sync");
        assertThat(dd.exitCode()).isNotZero();
        assertThat(dd.stderr()).containsAnyOf("Disk quota exceeded", "No space left on device");
        long written = Long.parseLong(host.ok(vm, "wc -c < /root/fill").strip());
        assertThat(written).isLessThanOrEqualTo(64L * 1024 * 1024);

        // Still a working VM: it can run commands, and free space to write again.
        assertThat(host.ok(vm, "echo alive")).isEqualTo("alive\n");
        host.ok(vm, "rm /root/fill && sync && dd if=/dev/zero of=/root/small bs=1M count=8 2>/dev/null && echo ok");

        // The limit is on the VM's own qgroup; an unlimited VM next to it is not affected.
        String free = RuncTestHost.newVmId();
        driver.create(host.spec(free));
        host.ok(free, "dd if=/dev/zero of=/root/big bs=1M count=100 2>/dev/null && sync");

        assertThatThrownBy(() -> driver.create(new SandboxSpec(RuncTestHost.newVmId(), RuncTestHost.IMAGE, 1, 256, 0,
                Map.of(), null, null, 0, null)))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_ROOTFS_SIZE"));
    }

    @Test
    void destroyAndCloseLeaveNoSubvolumeQgroupMountOrLoopDevice() throws IOException {
        String vm = RuncTestHost.newVmId();
        driver.create(new SandboxSpec(vm, RuncTestHost.IMAGE, 1, 256, 0, Map.of(), null, null, 128, null));
        host.ok(vm, "dd if=/dev/zero of=/root/data bs=1M count=20 2>/dev/null");
        driver.snapshot(vm, "s1");
        String fork = RuncTestHost.newVmId();
        driver.create(new SandboxSpec(fork, null, 1, 256, 0, Map.of(), null, null, 128, "s1"));
        assertThat(subvolumes()).contains("vms/" + vm, "vms/" + fork, "snapshots/s1/disk");
        assertThat(loopDevice()).isNotEmpty();

        driver.destroy(vm);
        driver.destroy(fork);
        driver.deleteSnapshot("s1");
        assertThat(host.leftovers(vm)).isEmpty();
        assertThat(host.leftovers(fork)).isEmpty();
        assertThat(subvolumes()).allMatch(p -> p.startsWith("images/"));
        // Deleted subvolumes' qgroups go once the kernel has dropped them (in the background).
        awaitOnlyImageQgroups();

        // With no VM left, closing unmounts the image, and autoclear detaches its loop device.
        driver.close();
        assertThat(MountTable.read().under(host.dataDir)).isEmpty();
        assertThat(host.loopDevices()).isEmpty();

        // The next driver on this data dir mounts it again and finds the base image (no second copy).
        try (RuncDriver again = new RuncDriver(host.config, new dev.burrow.driver.runc.internal.OciImageStore(host.config.imageDir()))) {
            assertThat(again.storageName()).isEqualTo("btrfs");
            assertThat(subvolumes()).hasSize(1).allMatch(p -> p.startsWith("images/"));
        }
        assertThat(host.loopDevices()).isEmpty();
    }

    @Test
    void closeKeepsTheFilesystemMountedWhileVmsExist() {
        String vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
        host.ok(vm, "echo still-here > /root/f");
        // A server restart: the old driver closes, the VM keeps running on its root, a new driver takes over.
        driver.close();
        assertThat(MountTable.read().isMountPoint(btrfs)).isTrue();
        assertThat(host.ok(vm, "cat /root/f")).isEqualTo("still-here\n");
        try (RuncDriver next = new RuncDriver(host.config, new dev.burrow.driver.runc.internal.OciImageStore(host.config.imageDir()))) {
            assertThat(next.exec(vm, dev.burrow.core.driver.ExecRequest.of("cat /root/f", Duration.ofSeconds(30))).stdout())
                    .isEqualTo("still-here\n");
            next.destroy(vm);
        }
        assertThat(MountTable.read().under(host.dataDir)).isEmpty();
    }

    /** Subvolumes of the test's btrfs, as paths relative to its top. */
    private List<String> subvolumes() {
        String out = HostCommand.of("btrfs", "subvolume", "list", "-o", btrfs.toString()).check().stdout();
        // "ID 257 gen 9 top level 5 path images/sha256-…"
        return out.lines().filter(l -> l.contains(" path ")).map(l -> l.substring(l.indexOf(" path ") + 6)).toList();
    }

    private List<String> loopDevice() {
        return host.loopDevices();
    }

    private void awaitOnlyImageQgroups() {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            String out = HostCommand.of("btrfs", "qgroup", "show", btrfs.toString()).check().stdout();
            List<String> other = out.lines().filter(l -> l.startsWith("0/"))
                    .filter(l -> !l.contains("images/") && !l.contains("<toplevel>")).toList();
            if (other.isEmpty()) return;
            if (System.nanoTime() > deadline) throw new AssertionError("qgroups left: " + other);
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
