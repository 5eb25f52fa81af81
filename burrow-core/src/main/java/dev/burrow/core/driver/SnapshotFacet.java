package dev.burrow.core.driver;

/**
 * Disk snapshots: immutable copies of a sandbox's disk that new sandboxes start from
 * ({@link SandboxSpec#snapshotId()}); a fork is one snapshot and N such creates.
 */
public interface SnapshotFacet {

    /**
     * Makes {@code snapshotId} an immutable copy of the sandbox's disk as it is now; a running sandbox is frozen for
     * the moment it takes, so the copy is consistent. The snapshot does not depend on the sandbox: it survives the
     * sandbox's destruction. Idempotent: an existing snapshot of that id is left as it is.
     *
     * @throws dev.burrow.core.error.BurrowException NOT_FOUND (VM_NOT_FOUND) if the sandbox has no disk here
     */
    void snapshot(String vmId, String snapshotId);

    /**
     * Deletes a snapshot. Sandboxes already created from it are not affected (the driver keeps whatever they still
     * need until they are destroyed). Succeeds when the snapshot does not exist. Refusing to delete a snapshot that is
     * in use is the caller's policy, not the driver's.
     */
    void deleteSnapshot(String snapshotId);

    /**
     * Bytes a snapshot's disk takes on the host that no VM or image shares, or -1 when the driver cannot tell.
     * Storage-pressure eviction adds these to the VMs' usage.
     */
    long snapshotUsageBytes(String snapshotId);
}
