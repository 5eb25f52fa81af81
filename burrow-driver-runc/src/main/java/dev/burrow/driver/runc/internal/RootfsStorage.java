package dev.burrow.driver.runc.internal;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import dev.burrow.core.driver.HostResource;

/**
 * Where a VM's root filesystem lives. An implementation gives each VM a writable root made from a shared,
 * read-only unpacked image without copying it per VM: overlayfs (an upper directory over the image) or btrfs
 * (a snapshot of a subvolume holding the image). The root stays usable from {@link #prepare} until
 * {@link #release}, also while the VM is stopped, so files can be read and written on a stopped VM.
 *
 * <p>Snapshots are immutable copies of a VM's disk, independent of the VM (it can be destroyed; the snapshot
 * stays) and usable as the starting disk of new VMs.
 *
 * <p>The storage owns only its own entries inside the VM directory; the driver owns the directory itself
 * (bundle, logs) and deletes it after {@link #release}. Callers serialize calls per VM, and per snapshot id.
 */
public interface RootfsStorage extends AutoCloseable {

    /** "btrfs" or "overlay", for logs. */
    String name();

    /** Whether {@code sizeMb} in {@link #prepare} is enforced (a real per-VM disk quota). */
    boolean supportsQuota();

    /** Changes the disk quota of an existing VM disk (only when {@link #supportsQuota()}). */
    default void setQuota(String vmId, int sizeMb) {
        throw new UnsupportedOperationException(name() + " storage has no disk quota");
    }

    /**
     * Creates the VM's root from {@code image} if it does not exist yet, mounts it if needed and returns its
     * absolute path. Calling it again returns the existing root (still made from the image it was first
     * made from). The image's files are never written.
     *
     * @param sizeMb disk quota in MiB, or null for none; must be null when {@link #supportsQuota()} is false
     */
    Path prepare(String vmId, UnpackedImage image, Integer sizeMb);

    default Path prepare(String vmId, UnpackedImage image) {
        return prepare(vmId, image, null);
    }

    /**
     * Like {@link #prepare} but the new root starts as a copy of a snapshot.
     *
     * @throws dev.burrow.core.error.BurrowException NOT_FOUND (SNAPSHOT_NOT_FOUND) if there is no such snapshot
     */
    Path prepareFromSnapshot(String vmId, String snapshotId, Integer sizeMb);

    /**
     * Mounts an existing root again when it is not mounted (after a host reboot the mounts are gone but the
     * writable layer is on disk) and returns its path.
     *
     * @throws dev.burrow.core.driver.DriverException if the VM has no root here
     */
    Path ensureMounted(String vmId);

    /** Whether a root for this VM exists (mounted or not). */
    boolean exists(String vmId);

    /** Unmounts and deletes the VM's root and everything the storage keeps for it. Succeeds if none exists. */
    void release(String vmId);

    /**
     * Copies the VM's disk into snapshot {@code snapshotId}. The caller makes sure nothing writes to the root
     * meanwhile (the VM is frozen or stopped). An existing snapshot of that id is returned as it is.
     */
    SnapshotInfo snapshot(String vmId, String snapshotId);

    /** A complete, not deleted snapshot. */
    Optional<SnapshotInfo> findSnapshot(String snapshotId);

    /** Deletes a snapshot; VMs made from it keep working. Succeeds if none exists. */
    void deleteSnapshot(String snapshotId);

    /**
     * Bytes of the VM's own writes (not the shared image): the overlay upper directory, or the extents of the
     * btrfs subvolume not shared with its base. -1 when the VM has no root here.
     */
    long usedBytes(String vmId);

    /** Bytes of a snapshot's own data (not shared with an image or a VM), -1 when there is no such snapshot. */
    default long snapshotUsedBytes(String snapshotId) {
        return -1;
    }

    /** How many VM roots and snapshots (deleted-but-still-stacked ones included) were made from each image digest. */
    java.util.Map<String, ImageUsers> imageUsers();

    /**
     * Whether VM roots and snapshots depend on the cached image after they were made (overlay: the image is their
     * lower layer) or not (btrfs: they are independent snapshots of a base copy).
     */
    boolean rootsNeedImage();

    /** Removes what the storage keeps for an image digest (the btrfs base subvolume). Succeeds if none. */
    default void releaseImage(String digest) { }

    /** Users of one image digest. */
    record ImageUsers(int vms, int snapshots) {
        ImageUsers plus(boolean vm) {
            return vm ? new ImageUsers(vms + 1, snapshots) : new ImageUsers(vms, snapshots + 1);
        }
    }

    /** What this storage has on the host (mounts, volumes, snapshots), labelled with ids, for reconciliation. */
    List<HostResource> list();

    /** Gives back host resources that no VM needs any more (e.g. the btrfs mount when no VM exists). */
    @Override
    default void close() { }

    /**
     * A snapshot and the image its source VM was made from, whose config (env, workdir) new VMs from it inherit.
     * {@code image} has no root filesystem; it is null for a snapshot of a VM made before storages recorded it.
     */
    record SnapshotInfo(String snapshotId, UnpackedImage image) { }
}
