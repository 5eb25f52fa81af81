package dev.burrow.core.admission;

/**
 * What this node may hand out to VMs: {@code maxVms} VMs that hold host resources, and vCPUs and memory up to the
 * host's own times an overcommit factor. A VM's cpu and memory are cgroup ceilings, not reservations, so an idle
 * fleet fits many times over; the factors say how far the operator bets on that.
 *
 * @param hostCpus          CPUs the host has
 * @param hostMemoryMb      memory the host has, MiB
 * @param cpuOvercommit     vCPUs admitted per host CPU
 * @param memoryOvercommit  MiB of VM memory limits admitted per MiB of host memory
 */
public record HostCapacity(int maxVms, int hostCpus, long hostMemoryMb, double cpuOvercommit, double memoryOvercommit) {
    public HostCapacity {
        if (maxVms < 1) throw new IllegalArgumentException("--max-vms must be at least 1, got " + maxVms);
        if (hostCpus < 1 || hostMemoryMb < 1) throw new IllegalArgumentException("host cpus and memory must be positive");
        if (!(cpuOvercommit > 0) || !(memoryOvercommit > 0)) {
            throw new IllegalArgumentException("--cpu-overcommit and --memory-overcommit must be positive");
        }
    }

    public long vcpus() {
        return (long) Math.floor(hostCpus * cpuOvercommit);
    }

    public long memoryMb() {
        return (long) Math.floor(hostMemoryMb * memoryOvercommit);
    }
}
