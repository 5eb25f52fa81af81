package dev.burrow.core.driver;

import java.util.Map;

import dev.burrow.core.net.NetworkPolicy;

/**
 * What the driver needs to build one sandbox. {@code imageRef} has been prepared with
 * {@link SandboxDriver#prepareImage} before.
 *
 * @param rootfsSizeMb a disk quota for the sandbox's root filesystem (everything it references, image files
 *                     included), or null for none; drivers without {@link DriverCapabilities#diskQuota()}
 *                     refuse a non-null value rather than ignore it
 * @param snapshotId   when not null, the sandbox's disk starts as a copy of this snapshot (made with
 *                     {@link SandboxDriver#snapshot}) instead of the image; {@code imageRef} may then be null,
 *                     in which case the image the snapshot's source was made from supplies the defaults
 *                     (env, workdir, user)
 * @param network      the VM's network policy; never null
 */
public record SandboxSpec(
        String vmId,
        String imageRef,
        int vcpuCount,
        int memSizeMb,
        int pidsLimit,
        Map<String, String> env,
        String workdir,
        String hostname,
        Integer rootfsSizeMb,
        String snapshotId,
        NetworkPolicy network) {

    public SandboxSpec {
        env = env == null ? Map.of() : Map.copyOf(env);
        if (network == null) network = NetworkPolicy.ALLOW_ALL;
    }

    /** With the default network policy. */
    public SandboxSpec(String vmId, String imageRef, int vcpuCount, int memSizeMb, int pidsLimit, Map<String, String> env,
                       String workdir, String hostname, Integer rootfsSizeMb, String snapshotId) {
        this(vmId, imageRef, vcpuCount, memSizeMb, pidsLimit, env, workdir, hostname, rootfsSizeMb, snapshotId, null);
    }

    /** A sandbox made from an image, without a disk quota (the shape callers used before quotas and snapshots). */
    public SandboxSpec(String vmId, String imageRef, int vcpuCount, int memSizeMb, int pidsLimit,
                       Map<String, String> env, String workdir, String hostname) {
        this(vmId, imageRef, vcpuCount, memSizeMb, pidsLimit, env, workdir, hostname, null, null, null);
    }
}
