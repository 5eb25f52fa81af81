package dev.burrow.core.lifecycle;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.fault.Failpoints;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.image.ImageCache;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/**
 * Create: the row (status {@code creating}, or {@code pulling} while its image is fetched) exists before any host
 * resource does; if anything fails, whatever the driver made is destroyed and the VM ends deleted, with the reason in
 * its events. With an idempotency key, a retry of the same request returns the VM the first one made.
 */
final class CreateOperation {
    private static final Logger log = LoggerFactory.getLogger(CreateOperation.class);

    private final Transitions t;
    private final SnapshotOperation snapshotOps;
    private final CreatePipeline pipeline;
    private final SnapshotStore snapshots;
    private final ImageCache images;
    private final SandboxDriver driver;
    private final VmStore store;
    private final String nodeId;
    /** VMs whose create waits for its image in this process (their lock is not held meanwhile). */
    private final Set<String> pullingNow = ConcurrentHashMap.newKeySet();
    /**
     * Admission control for the host-heavy part of create: a burst of hundreds of creates would otherwise start
     * hundreds of runc processes at once and thrash the machine; queued creates wait their turn.
     */
    private final Semaphore createSlots;

    CreateOperation(Transitions t, SnapshotOperation snapshotOps, CreatePipeline pipeline, SnapshotStore snapshots,
                    ImageCache images, String nodeId) {
        this.t = t;
        this.snapshotOps = snapshotOps;
        this.pipeline = pipeline;
        this.snapshots = snapshots;
        this.images = images;
        this.driver = t.driver();
        this.store = t.store();
        this.nodeId = nodeId;
        this.createSlots = new Semaphore(t.settings().maxConcurrentCreates(), true);
    }

    /** Whether the VM's create waits for its image in this process. */
    boolean pulling(String id) {
        return pullingNow.contains(id);
    }

    /**
     * The whole pipeline: the VM made (or an idempotent replay's found), then the steps that need it running. Those run
     * for a replay too, as they always did (its domains are mapped already, so that step leaves them).
     */
    Vm create(CreateVmCommand command, String cause, String idempotencyKey, String requestHash) {
        Vm vm = createVm(command, cause, idempotencyKey, requestHash);
        pipeline.runRunningSteps(new CreatePipeline.Context(vm, command, vm.spec(), null, cause));
        return vm;
    }

    private Vm createVm(CreateVmCommand command, String cause, String idempotencyKey, String requestHash) {
        if (idempotencyKey != null) {
            Optional<Vm> earlier = idempotentReplay(idempotencyKey, requestHash);
            if (earlier.isPresent()) return earlier.get();
        }
        var spec = command.spec();
        if (driver.network().isEmpty() && !spec.network().equals(NetworkPolicy.ALLOW_ALL)) {
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "this server runs VMs without networking, so a network policy cannot be honoured; remove 'network'");
        }
        String image;
        String driverImageRef = null;
        boolean pull = false;
        ImageCache.Lease cachedLease = null;
        if (spec.snapshotId() != null) {
            if (spec.image() != null) {
                throw BurrowException.of(ErrorCode.CREATE_VM_BAD_REQUEST, "give either 'image' or 'snapshotId', not both");
            }
            // The disk comes from the snapshot, which records its image config: nothing to fetch. The source's
            // image reference is kept for display.
            Snapshot from = snapshotOps.findSnapshot(spec.snapshotId());
            if (from.failed()) {
                throw BurrowException.of(ErrorCode.SNAPSHOT_FAILED, "snapshot " + from.id()
                        + " is a failed build and has no disk: " + from.failureReason());
            }
            image = from.image();
            spec = fromSnapshot(spec, from.sourceSpec());
        } else {
            image = spec.image() == null || spec.image().isBlank() ? t.settings().defaultImage() : spec.image();
            // A malformed reference is refused before anything is written.
            images.validate(image);
            if (images.cached(image)) {
                // Cached: preparing is a cache hit (at most a registry round trip to see whether a tag moved), done
                // before the VM exists as it always was.
                // The lease is held until the VM's disk exists, so the collector cannot take the image meanwhile.
                cachedLease = images.acquire(image, false);
                try {
                    driverImageRef = cachedLease.await().ref();
                } catch (RuntimeException e) {
                    cachedLease.close();
                    if (!clientMistake(e)) t.createRejected(spec, cause, e.getMessage());
                    throw e;
                }
            } else {
                pull = true;
            }
        }
        Instant now = t.clock().instant();
        String id = VmId.generate();
        var effective = new VmSpec(image, spec.vcpuCount(), spec.memSizeMb(), spec.env(),
                spec.workdir(), spec.idleTimeoutSeconds(), spec.persistence(), spec.labels(), spec.rootfsSizeMb(),
                spec.snapshotId(), spec.services(), spec.network(), spec.ports());
        var key = idempotencyKey == null ? null : new VmStore.IdempotencyKey(idempotencyKey, requestHash, id);
        // Counted before the row exists, so concurrent creates cannot pass the node's limits together; released
        // below when no row is written, and kept in step by write() once it is.
        var admissionRef = t.admission();
        try {
            admissionRef.reserve(id, effective);
        } catch (RuntimeException e) {
            if (cachedLease != null) cachedLease.close();
            throw e;
        }
        if (!pull) {
            Vm vm = new Vm(id, effective, VmStatus.CREATING, null, now, now, now, nodeId, driver.name(), null, 0);
            try (var lease = cachedLease; var held = t.lock(id, "create")) {
                boolean inserted;
                try {
                    inserted = insertCreating(vm, VmEvent.of(id, now, null, VmStatus.CREATING, "create", cause, image, null), key);
                } catch (RuntimeException e) {
                    admissionRef.release(id);
                    throw e;
                }
                if (!inserted) {
                    admissionRef.release(id);
                    // a concurrent request with the same key won the race; answer with its VM
                    return idempotentReplay(idempotencyKey, requestHash).orElseThrow();
                }
                return createLocked(store.find(id).orElseThrow(), command, spec, driverImageRef, cause);
            }
        }
        // The image is not here: the VM is visible as 'pulling' (with the pull's progress) while it is fetched. The
        // row is the intent; no host resource exists until the pull is done, so rolling back is writing 'deleted'.
        Vm vm = new Vm(id, effective, VmStatus.PULLING, null, now, now, now, nodeId, driver.name(), null, 0);
        try (var held = t.lock(id, "create")) {
            boolean inserted;
            try {
                inserted = t.insert(vm, VmEvent.of(id, now, null, VmStatus.PULLING, "create", cause, image, null), key);
            } catch (RuntimeException e) {
                admissionRef.release(id);
                throw e;
            }
            if (!inserted) {
                admissionRef.release(id);
                return idempotentReplay(idempotencyKey, requestHash).orElseThrow();
            }
            pullingNow.add(id);
        }
        // The VM's lock is not held while the image is fetched, so a delete (or GET) is not kept waiting by a long
        // pull; the reconciler knows the VM is busy from pullingNow.
        Failpoints.hit("create.pulling");
        try (var lease = images.acquire(image)) {
            long t0 = System.nanoTime();
            ImageInfo info;
            try {
                info = lease.await();
            } catch (RuntimeException e) {
                try (var held = t.lock(id, "create")) {
                    pullingNow.remove(id);
                    Vm current = store.find(id).orElseThrow();
                    if (current.status() == VmStatus.PULLING) {
                        // A client's mistake (unknown image) is not a failed create in the metrics; a registry or
                        // unpack failure is (a duration marks an outcome).
                        t.write(current, VmStatus.DELETED, "create failed: pulling image " + image + " failed: "
                                + BurrowException.clientMessage(e), "create", cause, clientMistake(e) ? null : Transitions.elapsed(t0));
                    }
                }
                throw e;
            }
            try (var held = t.lock(id, "create")) {
                pullingNow.remove(id);
                Vm current = store.find(id).orElseThrow();
                if (current.status() != VmStatus.PULLING) {
                    throw BurrowException.of(ErrorCode.VM_DELETED_DURING_PULL, "VM " + id + " was deleted while its image " + image + " was being pulled");
                }
                Vm creating = t.write(current, VmStatus.CREATING, null, "create", cause, null);
                return createLocked(creating, command, spec, info.ref(), cause);
            }
        } finally {
            pullingNow.remove(id);
        }
    }

    /**
     * A VM made from a snapshot starts with the snapshot's env and workdir (a template build's ENV and WORKDIR); what
     * the request gives wins. Its services too when the request names none: their files are on the snapshot's disk.
     */
    private static VmSpec fromSnapshot(VmSpec spec, VmSpec src) {
        if (src.env().isEmpty() && (spec.workdir() != null || src.workdir() == null)
                && (!spec.services().isEmpty() || src.services().isEmpty())) {
            return spec;
        }
        Map<String, String> env = new LinkedHashMap<>(src.env());
        env.putAll(spec.env());
        return new VmSpec(spec.image(), spec.vcpuCount(), spec.memSizeMb(), env,
                spec.workdir() != null ? spec.workdir() : src.workdir(), spec.idleTimeoutSeconds(),
                spec.persistence(), spec.labels(), spec.rootfsSizeMb(), spec.snapshotId(),
                spec.services().isEmpty() ? src.services() : spec.services(), spec.network(), spec.ports());
    }

    /** Runs the pipeline's host steps for a VM whose 'creating' row exists; the VM's lock is held. */
    private Vm createLocked(Vm vm, CreateVmCommand command, VmSpec spec, String driverImageRef, String cause) {
        String id = vm.id();
        Failpoints.hit("create.after-intent");
        acquireCreateSlot(id);
        long t0 = System.nanoTime();
        var c = new CreatePipeline.Context(vm, command, spec, driverImageRef, cause);
        try {
            pipeline.runHostSteps(c);
        } catch (RuntimeException e) {
            createSlots.release();
            // Leave a deleted tombstone only when the host is really clean; otherwise FAILED keeps the
            // VM visible so delete (or the reconciler) can finish the job.
            boolean clean = destroyQuietly(id);
            t.write(c.vm, clean ? VmStatus.DELETED : VmStatus.FAILED, "create failed: " + BurrowException.clientMessage(e),
                    "create", cause, Transitions.elapsed(t0));
            throw e;
        }
        createSlots.release();
        return t.write(c.vm, VmStatus.RUNNING, null, "create", cause, Transitions.elapsed(t0));
    }

    /**
     * Inserts a new VM's row. For a VM made from a snapshot, under the snapshot's lock and after checking it still
     * exists: deleting a snapshot takes the same lock, so it either sees this row (and refuses) or has removed the
     * snapshot before (and this create is refused), never half of each.
     */
    private boolean insertCreating(Vm vm, VmEvent event, VmStore.IdempotencyKey key) {
        String snapshotId = vm.spec().snapshotId();
        if (snapshotId == null) return t.insert(vm, event, key);
        try (var held = t.lock(snapshotId, "create from snapshot")) {
            snapshotOps.findSnapshot(snapshotId);
            boolean inserted = t.insert(vm, event, key);
            // its place in the eviction order: least recently used goes first
            if (inserted) snapshots.touchSnapshot(snapshotId, t.clock().instant());
            return inserted;
        }
    }

    private void acquireCreateSlot(String id) {
        try {
            // a burst queues here; ten minutes is far beyond any sane queue and only guards against a wedged host
            if (createSlots.tryAcquire(10, TimeUnit.MINUTES)) return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Vm vm = store.find(id).orElseThrow();
        t.write(vm, VmStatus.DELETED, "create gave up waiting for a free create slot", "create", "admission", null);
        throw new BurrowException(ErrorCode.SERVER_BUSY, "too many creates in progress; VM " + id + " was not created, retry later");
    }

    private Optional<Vm> idempotentReplay(String key, String requestHash) {
        Optional<VmStore.IdempotencyKey> earlier = store.findIdempotencyKey(key);
        if (earlier.isEmpty()) return Optional.empty();
        if (!earlier.get().requestHash().equals(requestHash)) {
            throw BurrowException.of(ErrorCode.IDEMPOTENCY_KEY_REUSED, "Idempotency-Key '" + key
                    + "' was already used for a different request (VM " + earlier.get().vmId() + ")");
        }
        return store.find(earlier.get().vmId());
    }

    private boolean destroyQuietly(String id) {
        try {
            driver.destroy(id);
            return true;
        } catch (RuntimeException e) {
            log.error("vm_id={} op=create cleanup after failed create also failed: {}", id, e.getMessage());
            return false;
        }
    }

    /** A malformed or unknown image reference: the client's mistake, not a failed create. */
    private static boolean clientMistake(RuntimeException e) {
        return e instanceof BurrowException be
                && (be.kind() == BurrowException.Kind.BAD_REQUEST || be.kind() == BurrowException.Kind.NOT_FOUND);
    }
}
