package dev.burrow.driver.runc;

import java.nio.file.Path;

/**
 * Settings of one runc driver instance. Everything it creates on the host is namespaced by
 * {@code nodeId}, so two Burrow servers (or test runs) on one host never see each other's sandboxes.
 *
 * @param dataDir          per-VM state: bundles, writable layers, mount points ({@code dataDir/vms/<id>}),
 *                         and the btrfs filesystem or loop image ({@code dataDir/btrfs}, {@code dataDir/btrfs.img})
 * @param imageDir         unpacked images by digest; may be shared between servers
 * @param runcRoot         runc's state directory ({@code runc --root})
 * @param nodeId           short identifier of this server; prefixes the cgroup parent
 * @param pidsLimit        default maximum number of processes per VM
 * @param storage          where VM roots live; see {@link Storage}
 * @param btrfsImageSizeMb size of the sparse loop image made when the data dir is not on btrfs; it only takes
 *                         host disk space as VMs write, and it caps what all VMs of this node can write together
 * @param network          VM networking (routed veths, addresses, NAT, DNS, egress policy), or null: each VM then has a
 *                         namespace with loopback only
 * @param nodePidsLimit    most processes all VMs of this node may have together (pids.max of the node's parent
 *                         cgroup, so VMs cannot exhaust the host's pid_max whatever their own limits), or 0 for none
 */
public record RuncDriverConfig(Path dataDir, Path imageDir, Path runcRoot, String nodeId, int pidsLimit,
                               Storage storage, long btrfsImageSizeMb, NetworkSettings network, long nodePidsLimit) {

    public static final long DEFAULT_BTRFS_IMAGE_SIZE_MB = 64L * 1024;

    /** Root filesystem storage: btrfs (snapshots O(1), real disk quotas) or overlayfs (works everywhere). */
    public enum Storage {
        /** btrfs if the data dir is on btrfs or a loop image can be set up there, else overlayfs. */
        AUTO,
        /** btrfs, or the driver fails to start. */
        BTRFS,
        OVERLAY
    }

    public RuncDriverConfig {
        if (storage == null) storage = Storage.AUTO;
        if (btrfsImageSizeMb <= 0) btrfsImageSizeMb = DEFAULT_BTRFS_IMAGE_SIZE_MB;
        if (nodePidsLimit < 0) nodePidsLimit = 0;
    }

    /** Without a node-wide process limit. */
    public RuncDriverConfig(Path dataDir, Path imageDir, Path runcRoot, String nodeId, int pidsLimit, Storage storage,
                            long btrfsImageSizeMb, NetworkSettings network) {
        this(dataDir, imageDir, runcRoot, nodeId, pidsLimit, storage, btrfsImageSizeMb, network, 0);
    }

    /** Without VM networking. */
    public RuncDriverConfig(Path dataDir, Path imageDir, Path runcRoot, String nodeId, int pidsLimit, Storage storage,
                            long btrfsImageSizeMb) {
        this(dataDir, imageDir, runcRoot, nodeId, pidsLimit, storage, btrfsImageSizeMb, null);
    }

    /** With automatic storage selection and the default loop image size. */
    public RuncDriverConfig(Path dataDir, Path imageDir, Path runcRoot, String nodeId, int pidsLimit) {
        this(dataDir, imageDir, runcRoot, nodeId, pidsLimit, Storage.AUTO, DEFAULT_BTRFS_IMAGE_SIZE_MB);
    }

    /** Processes per VM when neither the VM nor the operator says otherwise. */
    public static final int DEFAULT_PIDS_LIMIT = 1024;

    public static RuncDriverConfig forDataDir(Path dataDir, Path imageDir, String nodeId) {
        return new RuncDriverConfig(dataDir.resolve("runc"), imageDir, Path.of("/run/burrow", nodeId), nodeId, DEFAULT_PIDS_LIMIT);
    }

    public RuncDriverConfig withStorage(Storage newStorage) {
        return new RuncDriverConfig(dataDir, imageDir, runcRoot, nodeId, pidsLimit, newStorage, btrfsImageSizeMb, network, nodePidsLimit);
    }

    public RuncDriverConfig withNetwork(NetworkSettings newNetwork) {
        return new RuncDriverConfig(dataDir, imageDir, runcRoot, nodeId, pidsLimit, storage, btrfsImageSizeMb, newNetwork, nodePidsLimit);
    }

    /** With other process limits: {@code perVm} for VMs that ask for none, {@code node} for all VMs together. */
    public RuncDriverConfig withPidsLimits(int perVm, long node) {
        return new RuncDriverConfig(dataDir, imageDir, runcRoot, nodeId, perVm, storage, btrfsImageSizeMb, network, node);
    }

    /** The cgroup path (relative to each v1 controller's mount) under which this node's VMs live. */
    public String cgroupParent() {
        return "burrow-" + nodeId;
    }
}
