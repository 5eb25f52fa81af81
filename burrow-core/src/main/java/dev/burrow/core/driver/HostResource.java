package dev.burrow.core.driver;

/**
 * One thing a driver found on the host that belongs to a Burrow VM: a container, a mount, a cgroup, a
 * network namespace or a directory. The reconciler compares these with the store.
 */
public record HostResource(Kind kind, String vmId, String name) {
    public enum Kind { CONTAINER, MOUNT, CGROUP, NETNS, DIRECTORY }
}
