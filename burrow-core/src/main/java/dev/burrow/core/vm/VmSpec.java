package dev.burrow.core.vm;

import java.util.Map;

/**
 * What the user asked for at create time, as far as Burrow honours it. Stored with the VM so that a
 * restart, a reconcile or a later start can rebuild the sandbox from it.
 *
 * @param idleTimeoutSeconds null or 0 = never idle-suspend
 * @param rootfsSizeMb       disk quota of the VM's root filesystem, null for none
 * @param snapshotId         the snapshot the VM's disk started from, null when made from {@code image}; kept so
 *                           that a snapshot is not deleted while a VM made from it lives
 */
public record VmSpec(
        String image,
        int vcpuCount,
        int memSizeMb,
        Map<String, String> env,
        String workdir,
        Integer idleTimeoutSeconds,
        Persistence persistence,
        Map<String, String> labels,
        Integer rootfsSizeMb,
        String snapshotId) {

    public static final int DEFAULT_VCPUS = 2;
    public static final int DEFAULT_MEM_MB = 2048;

    public VmSpec {
        env = env == null ? Map.of() : Map.copyOf(env);
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        if (persistence == null) persistence = Persistence.DEFAULT;
    }

    public VmSpec withResources(int vcpus, int memMb) {
        return new VmSpec(image, vcpus, memMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb,
                snapshotId);
    }
}
