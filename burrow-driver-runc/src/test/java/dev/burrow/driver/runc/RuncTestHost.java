package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.internal.HostCommand;
import dev.burrow.driver.runc.internal.MountTable;
import dev.burrow.driver.runc.internal.OciImageStore;
import dev.burrow.driver.runc.internal.SafeDelete;

/**
 * A real runc driver on a private corner of the host: its own data dir, node id (hence cgroup parent) and
 * runc state dir, so concurrent test classes and a running Burrow never see each other's VMs. {@link #close}
 * removes everything, even what a failed test left half-made, and fails if it cannot.
 */
final class RuncTestHost implements AutoCloseable {
    static final String IMAGE = "builtin:busybox";
    private static final SecureRandom RANDOM = new SecureRandom();

    final Path dataDir;
    final String nodeId;
    final RuncDriverConfig config;
    final RuncDriver driver;

    private RuncTestHost(Path dataDir, String nodeId, RuncDriverConfig config, RuncDriver driver) {
        this.dataDir = dataDir;
        this.nodeId = nodeId;
        this.config = config;
        this.driver = driver;
    }

    /** Skips (or fails under CI=true) without root and runc, then prepares the busybox image. */
    static RuncTestHost start() throws IOException {
        return start(RuncDriverConfig.Storage.AUTO);
    }

    /** Like {@link #start()} on the given storage (btrfs additionally requires btrfs-progs). */
    static RuncTestHost start(RuncDriverConfig.Storage storage) throws IOException {
        HostRequirements.requireRunc();
        if (storage == RuncDriverConfig.Storage.BTRFS) HostRequirements.requireCommand("mkfs.btrfs");
        String nodeId = "t" + randomId(8);
        Path dataDir = Files.createTempDirectory("burrow-runc-test-").toRealPath();
        RuncDriverConfig config = new RuncDriverConfig(dataDir, HostRequirements.testCache().resolve("images"),
                Path.of("/run/burrow-test-" + nodeId), nodeId, 512, storage, 0);
        RuncDriver driver = new RuncDriver(config, new OciImageStore(config.imageDir()));
        RuncTestHost host = new RuncTestHost(dataDir, nodeId, config, driver);
        try {
            driver.prepareImage(IMAGE, null);
        } catch (RuntimeException e) {
            host.close();
            throw e;
        }
        return host;
    }

    static String randomId(int length) {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) sb.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        return sb.toString();
    }

    static String newVmId() {
        return randomId(20);
    }

    SandboxSpec spec(String vmId) {
        return new SandboxSpec(vmId, IMAGE, 1, 256, 0, Map.of("BURROW_TEST", "yes"), null, null);
    }

    /** Runs a shell command that must finish (within 3 min: generous, for a machine busy with other suites). */
    ExecResult sh(String vmId, String command) {
        ExecResult r = driver.exec(vmId, ExecRequest.of(command, Duration.ofMinutes(3)));
        assertThat(r.timedOut()).as("exec timed out: %s", command).isFalse();
        return r;
    }

    /** Like {@link #sh} but the command must exit 0; returns its stdout. */
    String ok(String vmId, String command) {
        ExecResult r = sh(vmId, command);
        assertThat(r.exitCode()).as("exit code of %s (stderr: %s)", command, r.stderr()).isZero();
        return r.stdout();
    }

    List<Path> cgroupHierarchies() {
        return MountTable.read().cgroupHierarchies();
    }

    Path cgroupDir(String hierarchy, String vmId) {
        return Path.of("/sys/fs/cgroup", hierarchy, config.cgroupParent(), vmId);
    }

    String cgroupFile(String hierarchy, String vmId, String file) throws IOException {
        return Files.readString(cgroupDir(hierarchy, vmId).resolve(file)).strip();
    }

    Path vmDir(String vmId) {
        return dataDir.resolve("vms").resolve(vmId);
    }

    /** The VM's root as the storage has it: the overlay mount or the btrfs subvolume. */
    Path rootfs(String vmId) {
        return driver.rootfs(vmId);
    }

    /** What a host reboot does to the storage: every mount of this data dir is gone (the disks stay). */
    void unmountAll() {
        List<MountTable.Mount> mounts = new ArrayList<>(MountTable.read().under(dataDir));
        mounts.sort(Comparator.comparingInt((MountTable.Mount m) -> m.mountPoint().getNameCount()).reversed());
        for (MountTable.Mount m : mounts) HostCommand.of("umount", m.mountPoint().toString()).check();
    }

    /** Everything of this VM the host still holds, checked independently of the driver's own list(). */
    List<String> leftovers(String vmId) {
        List<String> found = new ArrayList<>();
        // Only asked when the state dir exists: any runc command would create it.
        if (Files.isDirectory(config.runcRoot())) {
            HostCommand.Result state = HostCommand.of("runc", "--root", config.runcRoot().toString(), "state",
                    RuncDriver.containerId(vmId)).run();
            if (state.ok()) found.add("runc container " + RuncDriver.containerId(vmId));
        }
        for (MountTable.Mount m : MountTable.read().under(dataDir)) {
            if (m.mountPoint().toString().contains(vmId) || m.source().contains(vmId)) found.add("mount " + m.mountPoint());
        }
        for (Path h : cgroupHierarchies()) {
            Path d = h.resolve(config.cgroupParent()).resolve(vmId);
            if (Files.exists(d, LinkOption.NOFOLLOW_LINKS)) found.add("cgroup " + d);
        }
        if (Files.exists(vmDir(vmId), LinkOption.NOFOLLOW_LINKS)) found.add("directory " + vmDir(vmId));
        for (HostResource r : driver.list()) {
            if (r.vmId().equals(vmId)) found.add("listed " + r);
        }
        return found;
    }

    /** What of this node (not of one VM) remains: cgroup parents and the runc state dir. */
    List<String> nodeLeftovers() {
        List<String> found = new ArrayList<>();
        for (Path h : cgroupHierarchies()) {
            Path d = h.resolve(config.cgroupParent());
            if (Files.exists(d, LinkOption.NOFOLLOW_LINKS)) found.add("cgroup parent " + d);
        }
        if (Files.exists(config.runcRoot(), LinkOption.NOFOLLOW_LINKS)) found.add("runc root " + config.runcRoot());
        for (MountTable.Mount m : MountTable.read().under(dataDir)) found.add("mount " + m.mountPoint());
        found.addAll(loopDevices());
        return found;
    }

    /**
     * Loop devices backed by this data dir's btrfs image. Autoclear detaches them when the filesystem is
     * unmounted, which the kernel may finish a while after umount returns (seconds on a loaded machine); hence the
     * wait, which ends as soon as none is left.
     */
    List<String> loopDevices() {
        Path image = dataDir.resolve("btrfs.img");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            HostCommand.Result r = HostCommand.of("losetup", "-j", image.toString()).run();
            List<String> found = r.stdout().lines().filter(l -> !l.isBlank()).map(l -> "loop device " + l).toList();
            if (found.isEmpty() || System.nanoTime() > deadline) return found;
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return found;
            }
        }
    }

    /**
     * Destroys every VM through the driver, then removes by hand whatever still remains (so one broken test
     * does not leak into the host), and fails if the driver had left anything.
     */
    @Override
    public void close() {
        List<String> problems = new ArrayList<>();
        Set<String> vmIds = new LinkedHashSet<>();
        Set<String> snapshotIds = new LinkedHashSet<>();
        try {
            for (HostResource r : driver.list()) {
                if (r.kind() == HostResource.Kind.SNAPSHOT) snapshotIds.add(r.vmId());
                else vmIds.add(r.vmId());
            }
        } catch (RuntimeException e) {
            problems.add("list failed: " + e);
        }
        for (String snapshotId : snapshotIds) {
            try {
                driver.deleteSnapshot(snapshotId);
            } catch (RuntimeException e) {
                problems.add("delete snapshot " + snapshotId + " failed: " + e);
            }
        }
        for (String vmId : vmIds) {
            try {
                driver.destroy(vmId);
            } catch (RuntimeException e) {
                problems.add("destroy " + vmId + " failed: " + e);
            }
        }
        try {
            driver.close();
        } catch (RuntimeException e) {
            problems.add("driver close failed: " + e);
        }
        List<String> remaining = new ArrayList<>(nodeLeftovers());
        forceCleanup();
        remaining.addAll(nodeLeftovers());
        if (!problems.isEmpty() || !remaining.isEmpty()) {
            throw new AssertionError("test host not clean: " + problems + " " + remaining);
        }
    }

    private void forceCleanup() {
        String root = config.runcRoot().toString();
        HostCommand.Result list = HostCommand.of("runc", "--root", root, "list", "-q").run();
        if (list.ok() && !list.stdout().isBlank()) {
            for (String id : list.stdout().split("\n")) {
                if (!id.isBlank()) HostCommand.of("runc", "--root", root, "delete", "--force", id.strip()).run();
            }
        }
        List<MountTable.Mount> mounts = new ArrayList<>(MountTable.read().under(dataDir));
        mounts.sort(Comparator.comparingInt((MountTable.Mount m) -> m.mountPoint().getNameCount()).reversed());
        for (MountTable.Mount m : mounts) HostCommand.of("umount", "-l", m.mountPoint().toString()).run();
        for (Path h : cgroupHierarchies()) {
            Path parent = h.resolve(config.cgroupParent());
            if (!Files.isDirectory(parent, LinkOption.NOFOLLOW_LINKS)) continue;
            try (var walk = Files.walk(parent)) {
                for (Path d : walk.filter(Files::isDirectory)
                        .sorted(Comparator.comparingInt(Path::getNameCount).reversed()).toList()) {
                    Files.deleteIfExists(d);
                }
            } catch (IOException | RuntimeException e) {
                // reported by nodeLeftovers()
            }
        }
        try {
            SafeDelete.deleteTree(dataDir);
            Files.deleteIfExists(config.runcRoot());
        } catch (IOException | RuntimeException e) {
            // reported by nodeLeftovers() or visible as a leftover temp dir
        }
    }
}
