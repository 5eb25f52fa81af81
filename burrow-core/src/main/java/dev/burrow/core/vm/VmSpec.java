package dev.burrow.core.vm;

import java.util.List;
import java.util.Map;

/**
 * What the user asked for at create time, as far as Burrow honours it. Stored with the VM so that a
 * restart, a reconcile or a later start can rebuild the sandbox from it.
 *
 * @param idleTimeoutSeconds null or 0 = never idle-suspend
 * @param rootfsSizeMb       disk quota of the VM's root filesystem, null for none
 * @param snapshotId         the snapshot the VM's disk started from, null when made from {@code image}; kept so
 *                           that a snapshot is not deleted while a VM made from it lives
 * @param services           services Burrow supervises inside the VM; changed at run time through the systemd routes
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
        String snapshotId,
        List<ServiceSpec> services) {

    public static final int DEFAULT_VCPUS = 2;
    public static final int DEFAULT_MEM_MB = 2048;

    public VmSpec {
        env = env == null ? Map.of() : Map.copyOf(env);
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        if (persistence == null) persistence = Persistence.DEFAULT;
        services = services == null ? List.of() : List.copyOf(services);
    }

    /** A spec without services (the shape callers used before services existed). */
    public VmSpec(String image, int vcpuCount, int memSizeMb, Map<String, String> env, String workdir,
                  Integer idleTimeoutSeconds, Persistence persistence, Map<String, String> labels, Integer rootfsSizeMb,
                  String snapshotId) {
        this(image, vcpuCount, memSizeMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb, snapshotId,
                List.of());
    }

    public VmSpec withServices(List<ServiceSpec> newServices) {
        return new VmSpec(image, vcpuCount, memSizeMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb,
                snapshotId, newServices);
    }

    public java.util.Optional<ServiceSpec> service(String name) {
        return services.stream().filter(s -> s.name().equals(name)).findFirst();
    }

    public VmSpec withResources(int vcpus, int memMb) {
        return new VmSpec(image, vcpus, memMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb,
                snapshotId, services);
    }
}
