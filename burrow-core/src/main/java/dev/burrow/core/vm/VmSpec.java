package dev.burrow.core.vm;

import java.util.List;
import java.util.Map;

import dev.burrow.core.net.NetworkPolicy;

/**
 * What the user asked for at create time, as far as Burrow honours it. Stored with the VM so that a
 * restart, a reconcile or a later start can rebuild the sandbox from it.
 *
 * @param idleTimeoutSeconds null or 0 = never idle-suspend
 * @param rootfsSizeMb       disk quota of the VM's root filesystem, null for none
 * @param snapshotId         the snapshot the VM's disk started from, null when made from {@code image}; kept so
 *                           that a snapshot is not deleted while a VM made from it lives
 * @param services           services Burrow supervises inside the VM; changed at run time through the systemd routes
 * @param network            egress policy and limits; never null (allow-all without limits by default, which is
 *                           also what a VM stored before networking existed reads as)
 * @param ports              exposed ports reached through the preview proxy; never null (none for a VM stored before
 *                           ports existed)
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
        List<ServiceSpec> services,
        NetworkPolicy network,
        List<PortMapping> ports) {

    /** One vCPU: a default of every host CPU would let each VM take the whole node. */
    public static final int DEFAULT_VCPUS = 1;
    public static final int DEFAULT_MEM_MB = 2048;

    public VmSpec {
        env = env == null ? Map.of() : Map.copyOf(env);
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        if (persistence == null) persistence = Persistence.DEFAULT;
        services = services == null ? List.of() : List.copyOf(services);
        if (network == null) network = NetworkPolicy.ALLOW_ALL;
        ports = ports == null ? List.of() : PortMapping.validate(ports);
    }

    /** A spec without services and with the default network policy (the shape callers used before either existed). */
    public VmSpec(String image, int vcpuCount, int memSizeMb, Map<String, String> env, String workdir,
                  Integer idleTimeoutSeconds, Persistence persistence, Map<String, String> labels, Integer rootfsSizeMb,
                  String snapshotId) {
        this(image, vcpuCount, memSizeMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb, snapshotId,
                List.of(), null, null);
    }

    /** A spec with the default network policy. */
    public VmSpec(String image, int vcpuCount, int memSizeMb, Map<String, String> env, String workdir,
                  Integer idleTimeoutSeconds, Persistence persistence, Map<String, String> labels, Integer rootfsSizeMb,
                  String snapshotId, List<ServiceSpec> services) {
        this(image, vcpuCount, memSizeMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb, snapshotId,
                services, null, null);
    }

    public VmSpec withServices(List<ServiceSpec> newServices) {
        return new VmSpec(image, vcpuCount, memSizeMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb,
                snapshotId, newServices, network, ports);
    }

    public VmSpec withNetwork(NetworkPolicy policy) {
        return new VmSpec(image, vcpuCount, memSizeMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb,
                snapshotId, services, policy, ports);
    }

    public java.util.Optional<ServiceSpec> service(String name) {
        return services.stream().filter(s -> s.name().equals(name)).findFirst();
    }

    public VmSpec withResources(int vcpus, int memMb) {
        return new VmSpec(image, vcpus, memMb, env, workdir, idleTimeoutSeconds, persistence, labels, rootfsSizeMb,
                snapshotId, services, network, ports);
    }
}
