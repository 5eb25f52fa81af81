package dev.burrow.driver.runc;

import java.nio.file.Path;

/**
 * Settings of one runc driver instance. Everything it creates on the host is namespaced by
 * {@code nodeId}, so two Burrow servers (or test runs) on one host never see each other's sandboxes.
 *
 * @param dataDir     per-VM state: bundles, writable layers, mount points ({@code dataDir/vms/<id>})
 * @param imageDir    unpacked images by digest; may be shared between servers
 * @param runcRoot    runc's state directory ({@code runc --root})
 * @param nodeId      short identifier of this server; prefixes the cgroup parent
 * @param pidsLimit   default maximum number of processes per VM
 */
public record RuncDriverConfig(Path dataDir, Path imageDir, Path runcRoot, String nodeId, int pidsLimit) {

    public static RuncDriverConfig forDataDir(Path dataDir, Path imageDir, String nodeId) {
        return new RuncDriverConfig(dataDir.resolve("runc"), imageDir, Path.of("/run/burrow", nodeId), nodeId, 4096);
    }

    /** The cgroup path (relative to each v1 controller's mount) under which this node's VMs live. */
    public String cgroupParent() {
        return "burrow-" + nodeId;
    }
}
