package dev.burrow.driver.runc.internal;

import java.nio.file.Path;
import java.util.List;

import dev.burrow.core.driver.HostResource;

/**
 * Where a VM's root filesystem lives. An implementation gives each VM a writable root made from a shared,
 * read-only unpacked image without copying it: overlayfs (an upper directory over the image) today, btrfs
 * (a snapshot of the image's subvolume) later. The root stays mounted from {@link #prepare} until
 * {@link #release}, also while the VM is stopped, so files can be read and written on a stopped VM.
 *
 * <p>The storage owns only its own entries inside the VM directory; the driver owns the directory itself
 * (bundle, logs) and deletes it after {@link #release}. Callers serialize calls per VM.
 */
public interface RootfsStorage {

    /**
     * Creates the VM's root from {@code image} if it does not exist yet, mounts it if needed and returns its
     * absolute path. Calling it again returns the existing root (still made from the image it was first
     * made from). The image's files are never copied or written.
     */
    Path prepare(String vmId, UnpackedImage image);

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

    /** What this storage has on the host (mounts, volumes), labelled with VM ids, for reconciliation. */
    List<HostResource> list();
}
