package dev.burrow.core.driver;

import java.time.Duration;
import java.util.List;

/**
 * What a sandbox backend (runc container today, micro-VM or pod later) must do. Only the
 * {@code LifecycleCoordinator} calls these. Every call is idempotent: creating what exists, stopping
 * what is stopped and destroying what is gone all succeed. Sandboxes are addressed by the Burrow VM id;
 * the driver derives its own host names from it and labels everything it makes with it, so that
 * {@link #list()} can report what really exists.
 */
public interface SandboxDriver extends AutoCloseable {

    /** Short name stored with each VM ("runc"). */
    String name();

    DriverCapabilities capabilities();

    /**
     * Makes an image available locally (fetch, unpack, cache by digest) and returns what it resolved
     * to. Idempotent and safe to call concurrently for the same reference.
     */
    ImageInfo prepareImage(String imageRef, ProgressListener progress);

    /** Refuses a malformed image reference (BAD_REQUEST); looks nothing up. */
    default void validateImageRef(String imageRef) { }

    /**
     * Whether {@code imageRef} is already in the local cache, so a create needs no fetch (answered from local
     * state only, without asking a registry).
     */
    default boolean imageCached(String imageRef) {
        return false;
    }

    /** The images in the local cache, with what uses them. */
    default List<CachedImage> images() {
        return List.of();
    }

    /**
     * Removes a cached image and everything kept for it (unpacked tree, blobs, base volumes). Refuses with a
     * CONFLICT {@code IMAGE_IN_USE} when a sandbox or snapshot still depends on it. Succeeds when it is not cached.
     */
    default void deleteImage(String digest) {
        throw new UnsupportedOperationException(name() + " cannot delete images");
    }

    /** Creates the sandbox's disk and container and starts its init process. Returns the host handle. */
    String create(SandboxSpec spec);

    /** Starts a stopped sandbox again on its kept disk. No-op when already running. */
    void start(String vmId);

    /** Ends every process of the sandbox (TERM, then KILL after {@code grace}); the disk is kept. */
    void stop(String vmId, Duration grace);

    /** Freezes every process; memory is kept. */
    void suspend(String vmId);

    /** Thaws a suspended sandbox. */
    void resume(String vmId);

    /** Removes everything the sandbox holds on the host: container, mounts, cgroups, network, directories. */
    void destroy(String vmId);

    /** What the host says about one sandbox right now. */
    SandboxState state(String vmId);

    /** Runs a command inside a running sandbox and waits for it (or its timeout). */
    ExecResult exec(String vmId, ExecRequest request);

    /**
     * Starts a process inside a running sandbox and returns at once; the caller streams its I/O.
     *
     * @throws dev.burrow.core.error.BurrowException NOT_FOUND for an unknown sandbox, CONFLICT when not running,
     *                                               BAD_REQUEST for an unknown user
     */
    default SandboxProcess spawn(String vmId, ProcessSpec spec) {
        throw new UnsupportedOperationException(name() + " cannot start interactive processes");
    }

    /** The host end of the sd_notify protocol for services in VMs, or null when the driver has none. */
    default ServiceNotify serviceNotify() {
        return null;
    }

    /**
     * The argv of an SFTP server speaking the protocol on stdin/stdout inside the sandbox (for the SSH gateway's
     * sftp subsystem; {@link #spawn} runs it as the session's user), or empty when there is none.
     */
    default List<String> sftpServerCommand() {
        return List.of();
    }

    /**
     * Opens a TCP connection to {@code port} on the sandbox's own loopback (where a dev server usually listens),
     * from the host, for port forwarding. The returned channel is connected and blocking.
     */
    default java.nio.channels.SocketChannel connect(String vmId, int port) {
        throw new UnsupportedOperationException(name() + " cannot forward ports");
    }

    /**
     * Reads a regular file (or lists a directory). {@code path} is absolute inside the sandbox; it can never
     * resolve outside the sandbox's root, whatever symlinks the sandbox made. A missing path throws a
     * NOT_FOUND {@code BurrowException} with code FILE_NOT_FOUND; a file larger than {@code maxBytes} a
     * TOO_LARGE one.
     */
    FileContent read(String vmId, String path, long maxBytes);

    /** Writes (creates or replaces) a regular file, creating missing parent directories. Same confinement. */
    void writeFile(String vmId, String path, byte[] content, boolean executable);

    /**
     * Opens what {@link #read} would read, for streaming: a regular file's content is read by the caller after this
     * returns, so the driver holds no VM-wide state (lock, freeze) while a slow client drains it. Same errors as
     * {@link #read}. This default reads the file whole; drivers override it to keep memory per transfer bounded.
     */
    default OpenFile openFile(String vmId, String path, long maxBytes) {
        return switch (read(vmId, path, maxBytes)) {
            case FileContent.RegularFile f -> new OpenFile.Bytes(f.bytes().length, new java.io.ByteArrayInputStream(f.bytes()));
            case FileContent.Directory d -> new OpenFile.Listing(d.entries());
        };
    }

    /**
     * Writes a regular file from a stream, as {@link #writeFile(String, String, byte[], boolean)} does: the file
     * appears whole or not at all. A failure of {@code content} (a client that went away, a body over its limit)
     * leaves the previous file as it was and is rethrown. This default buffers the stream; drivers override it to
     * keep memory per transfer bounded.
     */
    default void writeFile(String vmId, String path, java.io.InputStream content, boolean executable) {
        try {
            writeFile(vmId, path, content.readAllBytes(), executable);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Copies a host directory tree (a git checkout) to {@code path} in the sandbox, which must be missing or an empty
     * directory. Same confinement as {@link #writeFile}; links in the source are copied as links, never followed.
     */
    default void copyIn(String vmId, java.nio.file.Path source, String path) {
        throw new UnsupportedOperationException(name() + " cannot copy directory trees in");
    }

    /** Everything this driver finds on the host that carries a Burrow label (for reconciliation). */
    List<HostResource> list();

    /**
     * Makes {@code snapshotId} an immutable copy of the sandbox's disk as it is now; a running sandbox is frozen
     * for the moment it takes, so the copy is consistent. Creating a sandbox with {@link SandboxSpec#snapshotId()}
     * starts from it (a fork is one snapshot and N such creates). The snapshot does not depend on the sandbox: it
     * survives the sandbox's destruction. Idempotent: an existing snapshot of that id is left as it is.
     * Only when {@link DriverCapabilities#diskSnapshots()}.
     *
     * @throws dev.burrow.core.error.BurrowException NOT_FOUND (VM_NOT_FOUND) if the sandbox has no disk here
     */
    default void snapshot(String vmId, String snapshotId) {
        throw new UnsupportedOperationException(name() + " cannot snapshot disks");
    }

    /**
     * Deletes a snapshot. Sandboxes already created from it are not affected (the driver keeps whatever they
     * still need until they are destroyed). Succeeds when the snapshot does not exist. Refusing to delete a
     * snapshot that is in use is the caller's policy, not the driver's.
     */
    default void deleteSnapshot(String snapshotId) {
        throw new UnsupportedOperationException(name() + " cannot snapshot disks");
    }

    /**
     * Bytes the VM's own disk takes on the host (what it wrote, not the shared image), or -1 when the
     * driver cannot tell. Storage-pressure eviction sums these.
     */
    default long diskUsageBytes(String vmId) {
        return -1;
    }

    /**
     * Bytes the VM's network interface has moved so far (received plus sent, as the host counts them), or -1 when
     * the driver cannot tell (no VM network). A counter: it starts again at 0 when the interface is recreated.
     */
    default long networkBytes(String vmId) {
        return -1;
    }

    /**
     * Bytes a snapshot's disk takes on the host that no VM or image shares, or -1 when the driver cannot tell.
     * Storage-pressure eviction adds these to the VMs' usage.
     */
    default long snapshotUsageBytes(String snapshotId) {
        return -1;
    }

    /** Applies new cpu/memory limits to a running or stopped sandbox. */
    /** Changes the disk quota of the sandbox's root filesystem (only with {@link DriverCapabilities#diskQuota()}). */
    default void resizeDisk(String vmId, int rootfsSizeMb) {
        throw new UnsupportedOperationException(name() + " cannot change disk quotas");
    }

    default void resize(String vmId, int vcpuCount, int memSizeMb) {
        throw new UnsupportedOperationException(name() + " cannot resize");
    }

    /** Whether sandboxes get a network of their own with an egress policy ({@link #updateNetwork}). */
    default boolean networking() {
        return false;
    }

    /**
     * Replaces a sandbox's network policy: at once on a running or suspended sandbox, and kept for its next start.
     * Only when {@link #networking()}.
     */
    default void updateNetwork(String vmId, dev.burrow.core.net.NetworkPolicy policy) {
        throw new UnsupportedOperationException(name() + " has no VM networking");
    }

    /**
     * The network namespace of a running sandbox, for host processes that must reach the network as the VM does
     * (git clones at create), or null when the driver cannot give one (such work is then refused).
     */
    default SandboxNetns networkNamespace(String vmId) {
        return null;
    }

    /** The sandbox's address and gateway on the VM network, or null when it has none. */
    default NetworkInfo networkInfo(String vmId) {
        return null;
    }

    @Override
    void close();

    /** Reports image preparation progress: a phase name and a fraction in [0,1], or -1 when unknown. */
    @FunctionalInterface
    interface ProgressListener {
        ProgressListener NONE = (phase, fraction) -> { };

        void progress(String phase, double fraction);

        /** Measured byte and layer counts while an image is fetched; drivers that cannot tell never call it. */
        default void pull(PullProgress progress) { }
    }
}
