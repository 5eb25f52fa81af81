package dev.burrow.core.driver;

/**
 * One thing a driver found on the host that belongs to a Burrow VM: a container, a mount, a cgroup, a
 * network namespace, a directory or a storage volume; or a disk snapshot. The reconciler compares these with
 * the store.
 *
 * <p>For {@link Kind#SNAPSHOT} the {@code vmId} field carries the snapshot id (a snapshot outlives the VM it
 * was taken from, so it is labelled with its own id); a reconciler must not treat it as a VM id.
 */
public record HostResource(Kind kind, String vmId, String name) {
    public enum Kind {
        CONTAINER, MOUNT, CGROUP, NETNS, DIRECTORY,
        /** A VM's own storage volume that is not a mount, e.g. a btrfs subvolume holding its root. */
        VOLUME,
        /** A disk snapshot made by {@link SandboxDriver#snapshot}; {@code vmId} is the snapshot id. */
        SNAPSHOT
    }
}
