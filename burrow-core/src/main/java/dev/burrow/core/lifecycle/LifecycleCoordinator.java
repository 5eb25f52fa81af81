package dev.burrow.core.lifecycle;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.fault.Failpoints;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.image.ImageCache;
import dev.burrow.core.internal.KeyedLocks;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmStatus;

/**
 * The only code that changes a VM's status or calls the driver. Every transition is serialized per VM
 * and follows one shape: check the transition table, write the intent and its event in one transaction,
 * call the driver, write the outcome. When the driver fails, the outcome is whatever the host really
 * holds afterwards, so the store never claims a state the host does not have.
 */
public final class LifecycleCoordinator {
    private static final Logger log = LoggerFactory.getLogger(LifecycleCoordinator.class);

    /** Tunables; defaults suit an interactive API. */
    public record Settings(Duration lockWait, Duration stopGrace, int pidsLimit, String defaultImage,
                           int maxConcurrentCreates) {
        public static Settings defaults(String defaultImage) {
            return new Settings(Duration.ofSeconds(120), Duration.ofSeconds(10), 1024, defaultImage,
                    Math.max(2, Runtime.getRuntime().availableProcessors() * 2));
        }
    }

    /** Most VMs one fork request makes (each is a full create). */
    public static final int MAX_FORKS = 50;

    private final VmStore store;
    private final SnapshotStore snapshots;
    private final SandboxDriver driver;
    private final Clock clock;
    private final String nodeId;
    private final Settings settings;
    private final KeyedLocks locks = new KeyedLocks();
    private final ImageCache images;
    /** VMs whose create waits for its image in this process (their lock is not held meanwhile). */
    private final java.util.Set<String> pullingNow = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /**
     * Admission control for the host-heavy part of create: a burst of hundreds of creates would otherwise
     * start hundreds of runc processes at once and thrash the machine; queued creates wait their turn.
     */
    private final java.util.concurrent.Semaphore createSlots;
    private final List<TransitionListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile BootHook bootHook = BootHook.NONE;
    /** VM count, cpu and memory against the node's capacity; unlimited until {@link #setAdmission}. */
    private volatile dev.burrow.core.admission.VmAdmission admission = new dev.burrow.core.admission.VmAdmission(null);
    /** Concurrent execs and spawned processes per VM and per node; unlimited until {@link #setExecSlots}. */
    private volatile dev.burrow.core.admission.ExecSlots execSlots = dev.burrow.core.admission.ExecSlots.unlimited();

    public LifecycleCoordinator(VmStore store, SnapshotStore snapshots, SandboxDriver driver, Clock clock, String nodeId,
                                Settings settings) {
        this.store = store;
        this.snapshots = java.util.Objects.requireNonNull(snapshots, "snapshots");
        this.driver = driver;
        this.clock = clock;
        this.nodeId = nodeId;
        this.settings = settings;
        this.createSlots = new java.util.concurrent.Semaphore(settings.maxConcurrentCreates(), true);
        this.images = new ImageCache(driver, clock);
    }

    public void addListener(TransitionListener listener) {
        listeners.add(listener);
    }

    /** What runs inside a VM whenever its processes (re)start (services started at boot). One hook. */
    public void setBootHook(BootHook hook) {
        this.bootHook = java.util.Objects.requireNonNull(hook, "hook");
    }

    /**
     * Admits creates, starts and resizes against the node's capacity from now on. Loads the VMs the store holds, so
     * call it once at start, before requests arrive.
     */
    public void setAdmission(dev.burrow.core.admission.VmAdmission admission) {
        admission.load(store.list(VmQuery.all().withNode(nodeId)));
        this.admission = admission;
    }

    /** Caps concurrent execs and spawned processes from now on. */
    public void setExecSlots(dev.burrow.core.admission.ExecSlots slots) {
        this.execSlots = java.util.Objects.requireNonNull(slots, "slots");
    }

    public dev.burrow.core.admission.VmAdmission admission() {
        return admission;
    }

    public dev.burrow.core.admission.ExecSlots execSlots() {
        return execSlots;
    }

    public Settings settings() {
        return settings;
    }

    /** What the driver can honour (the API refuses fields it cannot, e.g. a disk quota without one). */
    public dev.burrow.core.driver.DriverCapabilities capabilities() {
        return driver.capabilities();
    }

    // ---- what the host has, for the loops, the readiness check and the gateways (only the coordinator asks the
    // driver; these change nothing) ----

    /** Everything the driver finds on the host with a Burrow label (the reconciler's and readiness check's view). */
    public List<dev.burrow.core.driver.HostResource> hostResources() {
        return driver.list();
    }

    /** Bytes the VM's own disk takes on the host, or -1 when the driver cannot tell. */
    public long diskUsageBytes(String vmId) {
        return driver.resources().map(r -> r.diskUsageBytes(vmId)).orElse(-1L);
    }

    /** Bytes a snapshot's disk takes that nothing shares, or -1 when the driver cannot tell (or has no snapshots). */
    public long snapshotUsageBytes(String snapshotId) {
        return driver.snapshots().map(s -> s.snapshotUsageBytes(snapshotId)).orElse(-1L);
    }

    /** The VM's interface counter (received plus sent), or -1 when it has no VM network. */
    public long networkBytes(String vmId) {
        return driver.network().map(n -> n.networkBytes(vmId)).orElse(-1L);
    }

    /** The host end of sd_notify for services in VMs, handed to the service manager; empty when the driver has none. */
    public Optional<dev.burrow.core.driver.ServiceNotify> serviceNotify() {
        return driver.serviceNotify();
    }

    /** The argv of the SFTP server inside VMs (for the SSH gateway), or empty when the driver has none. */
    public List<String> sftpServerCommand() {
        return driver.processes().map(p -> p.sftpServerCommand()).orElse(List.of());
    }

    // ---- reads ----

    public Vm get(String id) {
        if (!VmId.valid(id)) {
            throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "INVALID_VM_ID",
                    "invalid VM id '" + abbreviate(id) + "': VM ids are 20 lowercase letters and digits");
        }
        Optional<Vm> vm = store.find(id);
        if (vm.isEmpty() || vm.get().status() == VmStatus.DELETED) {
            throw BurrowException.notFound("VM_NOT_FOUND", "VM not found: " + id);
        }
        return vm.get();
    }

    public List<Vm> list(VmQuery query) {
        return store.list(query);
    }

    /** The node this coordinator runs on: the {@code node} of the VMs it creates, the VMs its host's loops walk. */
    public String nodeId() {
        return nodeId;
    }

    /** How many VMs have each status, counted by the store (not by listing them). */
    public Map<VmStatus, Long> countByStatus(boolean includeDeleted) {
        return store.countByStatus(includeDeleted);
    }

    // ---- transitions ----

    /**
     * Creates and starts a VM. The row (status {@code creating}) exists before any host resource does;
     * if anything fails, whatever the driver made is destroyed and the VM ends deleted, with the reason
     * in its events.
     */
    public Vm create(CreateVmCommand command, String cause) {
        return create(command, cause, null, null);
    }

    /**
     * Creates a VM; with an {@code idempotencyKey}, a retry of the same request returns the VM the first
     * one made (whatever its status now) and a different request under the same key is refused.
     */
    public Vm create(CreateVmCommand command, String cause, String idempotencyKey, String requestHash) {
        if (idempotencyKey != null) {
            Optional<Vm> earlier = idempotentReplay(idempotencyKey, requestHash);
            if (earlier.isPresent()) return earlier.get();
        }
        var spec = command.spec();
        if (driver.network().isEmpty() && !spec.network().equals(dev.burrow.core.net.NetworkPolicy.ALLOW_ALL)) {
            throw BurrowException.badRequest("UNSUPPORTED_FIELD",
                    "this server runs VMs without networking, so a network policy cannot be honoured; remove 'network'");
        }
        String image;
        String driverImageRef = null;
        boolean pull = false;
        ImageCache.Lease cachedLease = null;
        if (spec.snapshotId() != null) {
            if (spec.image() != null) {
                throw BurrowException.badRequest("CREATE_VM_BAD_REQUEST", "give either 'image' or 'snapshotId', not both");
            }
            // The disk comes from the snapshot, which records its image config: nothing to fetch. The source's
            // image reference is kept for display.
            Snapshot from = findSnapshot(spec.snapshotId());
            if (from.failed()) {
                throw BurrowException.badRequest("SNAPSHOT_FAILED", "snapshot " + from.id()
                        + " is a failed build and has no disk: " + from.failureReason());
            }
            image = from.image();
            // A VM made from a snapshot starts with the snapshot's env and workdir (a template build's ENV and
            // WORKDIR); what the request gives wins. Its services too when the request names none: their files are
            // on the snapshot's disk.
            var src = from.sourceSpec();
            if (!src.env().isEmpty() || (spec.workdir() == null && src.workdir() != null)
                    || (spec.services().isEmpty() && !src.services().isEmpty())) {
                Map<String, String> env = new java.util.LinkedHashMap<>(src.env());
                env.putAll(spec.env());
                spec = new dev.burrow.core.vm.VmSpec(spec.image(), spec.vcpuCount(), spec.memSizeMb(), env,
                        spec.workdir() != null ? spec.workdir() : src.workdir(), spec.idleTimeoutSeconds(),
                        spec.persistence(), spec.labels(), spec.rootfsSizeMb(), spec.snapshotId(),
                        spec.services().isEmpty() ? src.services() : spec.services(), spec.network(), spec.ports());
            }
        } else {
            image = spec.image() == null || spec.image().isBlank() ? settings.defaultImage() : spec.image();
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
                    if (!(e instanceof BurrowException be) || (be.kind() != BurrowException.Kind.BAD_REQUEST
                            && be.kind() != BurrowException.Kind.NOT_FOUND)) {
                        notifyCreateRejected(spec, cause, e.getMessage());
                    }
                    throw e;
                }
            } else {
                pull = true;
            }
        }
        Instant now = clock.instant();
        String id = VmId.generate();
        var effective = new dev.burrow.core.vm.VmSpec(image, spec.vcpuCount(), spec.memSizeMb(), spec.env(),
                spec.workdir(), spec.idleTimeoutSeconds(), spec.persistence(), spec.labels(), spec.rootfsSizeMb(),
                spec.snapshotId(), spec.services(), spec.network(), spec.ports());
        var key = idempotencyKey == null ? null : new VmStore.IdempotencyKey(idempotencyKey, requestHash, id);
        // Counted before the row exists, so concurrent creates cannot pass the node's limits together; released
        // below when no row is written, and kept in step by write() once it is.
        var admissionRef = admission;
        try {
            admissionRef.reserve(id, effective);
        } catch (RuntimeException e) {
            if (cachedLease != null) cachedLease.close();
            throw e;
        }
        if (!pull) {
            Vm vm = new Vm(id, effective, VmStatus.CREATING, null, now, now, now, nodeId, driver.name(), null, 0);
            try (var lease = cachedLease; var held = locks.acquire(id, settings.lockWait(), "create")) {
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
                vm = store.find(id).orElseThrow();
                notifyListeners(vm, null, "create", cause, null, null);
                return createLocked(vm, command, spec, driverImageRef, cause);
            }
        }
        // The image is not here: the VM is visible as 'pulling' (with the pull's progress) while it is fetched. The
        // row is the intent; no host resource exists until the pull is done, so rolling back is writing 'deleted'.
        Vm vm = new Vm(id, effective, VmStatus.PULLING, null, now, now, now, nodeId, driver.name(), null, 0);
        try (var held = locks.acquire(id, settings.lockWait(), "create")) {
            boolean inserted;
            try {
                inserted = store.insert(vm, VmEvent.of(id, now, null, VmStatus.PULLING, "create", cause, image, null), key);
            } catch (RuntimeException e) {
                admissionRef.release(id);
                throw e;
            }
            if (!inserted) {
                admissionRef.release(id);
                return idempotentReplay(idempotencyKey, requestHash).orElseThrow();
            }
            pullingNow.add(id);
            vm = store.find(id).orElseThrow();
            notifyListeners(vm, null, "create", cause, null, null);
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
                try (var held = locks.acquire(id, settings.lockWait(), "create")) {
                    pullingNow.remove(id);
                    Vm current = store.find(id).orElseThrow();
                    if (current.status() == VmStatus.PULLING) {
                        boolean clientMistake = e instanceof BurrowException be
                                && (be.kind() == BurrowException.Kind.BAD_REQUEST || be.kind() == BurrowException.Kind.NOT_FOUND);
                        // A client's mistake (unknown image) is not a failed create in the metrics; a registry or
                        // unpack failure is (a duration marks an outcome).
                        write(current, VmStatus.DELETED, "create failed: pulling image " + image + " failed: " + BurrowException.clientMessage(e),
                                "create", cause, clientMistake ? null : elapsed(t0));
                    }
                }
                throw e;
            }
            try (var held = locks.acquire(id, settings.lockWait(), "create")) {
                pullingNow.remove(id);
                Vm current = store.find(id).orElseThrow();
                if (current.status() != VmStatus.PULLING) {
                    throw BurrowException.conflict("VM_DELETED_DURING_PULL",
                            "VM " + id + " was deleted while its image " + image + " was being pulled");
                }
                Vm creating = write(current, VmStatus.CREATING, null, "create", cause, null);
                return createLocked(creating, command, spec, info.ref(), cause);
            }
        } finally {
            pullingNow.remove(id);
        }
    }

    /** The pull a VM in status {@code pulling} waits for, if it is under way in this process. */
    public Optional<ImageCache.Pull> pullOf(Vm vm) {
        if (vm.status() != VmStatus.PULLING || vm.spec().image() == null) return Optional.empty();
        return images.pull(vm.spec().image());
    }

    /** Refuses a malformed image reference (400) without looking anything up. */
    public void validateImageRef(String image) {
        images.validate(image);
    }

    /** The node's image cache: pulls under way (shared by creates), cached images, deleting them. */
    public ImageCache images() {
        return images;
    }

    /** Images this node's VMs still name (the default image among them while any VM uses it). */
    public java.util.Set<String> imagesNamedByVms() {
        java.util.Set<String> named = new java.util.HashSet<>();
        for (Vm vm : store.everyVm(nodeId)) {
            if (vm.spec().image() != null) named.add(vm.spec().image());
        }
        return named;
    }

    /** Makes the disk and container of a VM whose 'creating' row exists; the VM's lock is held. */
    private Vm createLocked(Vm vm, CreateVmCommand command, dev.burrow.core.vm.VmSpec spec, String driverImageRef,
                            String cause) {
        String id = vm.id();
        Failpoints.hit("create.after-intent");
        acquireCreateSlot(id);
        long t0 = System.nanoTime();
        try {
            String handle = driver.create(new SandboxSpec(id, driverImageRef, spec.vcpuCount(), spec.memSizeMb(),
                    settings.pidsLimit(), spec.env(), spec.workdir(), id, spec.rootfsSizeMb(), spec.snapshotId(),
                    spec.network()));
            Failpoints.hit("create.after-driver");
            // fetched through the VM's own network, so only once it exists (and under its egress policy)
            List<CreateVmCommand.TreeCopy> fetched = command.fetch() == null ? List.of()
                    : command.fetch().fetch(id, processFacet().networkNamespace(id));
            for (var f : command.files().entrySet()) {
                fileFacet().writeFile(id, f.getKey(), f.getValue().content(), f.getValue().executable());
            }
            for (var t : command.trees()) fileFacet().copyIn(id, t.source(), t.path());
            for (var t : fetched) fileFacet().copyIn(id, t.source(), t.path());
            for (String script : command.setup()) {
                ExecResult r = processFacet().exec(id, ExecRequest.of(script, Duration.ofMinutes(2)));
                if (r.exitCode() != 0 || r.timedOut()) {
                    String out = (r.stderr() + r.stdout()).strip();
                    throw BurrowException.badRequest("CREATE_VM_SETUP_FAILED", "setting up VM " + id + " failed"
                            + (r.timedOut() ? " (timed out)" : "") + ": " + (out.length() > 1000 ? out.substring(0, 1000) : out));
                }
            }
            for (var step : command.steps()) {
                ExecResult r = processFacet().exec(id, ExecRequest.of(step.script(), step.timeout()));
                if (r.exitCode() != 0 || r.timedOut()) {
                    String out = (r.stdout() + r.stderr()).strip();
                    throw BurrowException.badRequest(step.errorCode(), step.failure()
                            + (r.timedOut() ? " (timed out after " + step.timeout().toSeconds() + " s)" : " (exit " + r.exitCode() + ")")
                            + ": " + (out.length() > 2000 ? "…" + out.substring(out.length() - 2000) : out));
                }
            }
            vm = vm.withHandle(handle);
            // after the files: services started at boot may run scripts the request brought along
            Vm booted = vm;
            bootHook.booted(booted, req -> processFacet().exec(id, req));
        } catch (RuntimeException e) {
            createSlots.release();
            // Leave a deleted tombstone only when the host is really clean; otherwise FAILED keeps the
            // VM visible so delete (or the reconciler) can finish the job.
            boolean clean = destroyQuietly(id);
            write(vm, clean ? VmStatus.DELETED : VmStatus.FAILED, "create failed: " + BurrowException.clientMessage(e), "create",
                    cause, elapsed(t0));
            throw e;
        }
        createSlots.release();
        return write(vm, VmStatus.RUNNING, null, "create", cause, elapsed(t0));
    }

    /**
     * Inserts a new VM's row. For a VM made from a snapshot, under the snapshot's lock and after checking it still
     * exists: {@link #deleteSnapshot} takes the same lock, so it either sees this row (and refuses) or has removed
     * the snapshot before (and this create is refused), never half of each.
     */
    private boolean insertCreating(Vm vm, VmEvent event, VmStore.IdempotencyKey key) {
        String snapshotId = vm.spec().snapshotId();
        if (snapshotId == null) return store.insert(vm, event, key);
        try (var held = locks.acquire(snapshotId, settings.lockWait(), "create from snapshot")) {
            findSnapshot(snapshotId);
            boolean inserted = store.insert(vm, event, key);
            // its place in the eviction order: least recently used goes first
            if (inserted) snapshots.touchSnapshot(snapshotId, clock.instant());
            return inserted;
        }
    }

    private void acquireCreateSlot(String id) {
        try {
            // a burst queues here; ten minutes is far beyond any sane queue and only guards against a wedged host
            if (createSlots.tryAcquire(10, java.util.concurrent.TimeUnit.MINUTES)) return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Vm vm = store.find(id).orElseThrow();
        write(vm, VmStatus.DELETED, "create gave up waiting for a free create slot", "create", "admission", null);
        throw new BurrowException(BurrowException.Kind.UNAVAILABLE, "SERVER_BUSY",
                "too many creates in progress; VM " + id + " was not created, retry later");
    }

    /** Starts a stopped VM or resumes a suspended one; a running VM is returned as is. */
    public Vm start(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "start")) {
            Vm vm = get(id);
            return switch (vm.status()) {
                case RUNNING -> vm;
                case SUSPENDED -> transition(vm, "resume", VmStatus.RESUMING, VmStatus.RUNNING, cause,
                        () -> driver.resume(id));
                case STOPPED, FAILED, HIBERNATED -> {
                    admission.admitStart(vm);
                    yield transition(vm, "start", VmStatus.STARTING, VmStatus.RUNNING, cause, () -> startAndBoot(vm));
                }
                default -> throw invalid(vm, "start");
            };
        }
    }

    public Vm suspend(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "suspend")) {
            Vm vm = get(id);
            if (vm.status() == VmStatus.SUSPENDED) return vm;
            if (vm.status() != VmStatus.RUNNING) throw invalid(vm, "suspend");
            Vm suspended = transition(vm, "suspend", VmStatus.SUSPENDING, VmStatus.SUSPENDED, cause, () -> driver.suspend(id));
            return deleteIfEphemeral(suspended, Persistence.DeleteEvent.ON_SUSPEND, cause);
        }
    }

    /**
     * Tears down the processes of a VM that stayed suspended for long (memory is released), keeping its
     * disk. The next access starts it again.
     */
    public Vm hibernate(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "hibernate")) {
            Vm vm = get(id);
            if (vm.status() == VmStatus.HIBERNATED) return vm;
            if (vm.status() != VmStatus.SUSPENDED) throw invalid(vm, "hibernate");
            return transition(vm, "hibernate", VmStatus.HIBERNATING, VmStatus.HIBERNATED, cause,
                    () -> driver.stop(id, Duration.ZERO));
        }
    }

    /** Ends the VM's processes gracefully; its disk is kept. */
    public Vm stop(String id, String cause) {
        return stop(id, cause, "stop", settings.stopGrace());
    }

    /** Like stop, without the grace period. */
    public Vm kill(String id, String cause) {
        return stop(id, cause, "kill", Duration.ZERO);
    }

    private Vm stop(String id, String cause, String op, Duration grace) {
        try (var held = locks.acquire(id, settings.lockWait(), op)) {
            Vm vm = get(id);
            if (vm.status() == VmStatus.STOPPED) return vm;
            if (vm.status() != VmStatus.RUNNING && vm.status() != VmStatus.SUSPENDED) throw invalid(vm, op);
            Vm stopped = transition(vm, op, VmStatus.STOPPING, VmStatus.STOPPED, cause, () -> driver.stop(id, grace));
            return deleteIfEphemeral(stopped, Persistence.DeleteEvent.ON_STOP, cause);
        }
    }

    private Vm deleteIfEphemeral(Vm vm, Persistence.DeleteEvent event, String cause) {
        Persistence p = vm.spec().persistence();
        if (p.type() != Persistence.Type.EPHEMERAL || p.deleteEvent() != event) return vm;
        return deleteLocked(vm, cause + "+ephemeral");
    }

    /**
     * Releases everything the VM holds on the host. Allowed from every status, including a transitional
     * one left behind by a crash: deleting must always be possible.
     */
    public Vm delete(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "delete")) {
            return deleteLocked(get(id), cause);
        }
    }

    private Vm deleteLocked(Vm vm, String cause) {
        String id = vm.id();
        {
            Vm intent = vm.status() == VmStatus.DELETING ? vm
                    : write(vm, VmStatus.DELETING, null, "delete", cause, null);
            Failpoints.hit("delete.after-intent");
            long t0 = System.nanoTime();
            try {
                driver.destroy(id);
            } catch (RuntimeException e) {
                write(intent, VmStatus.FAILED, "delete failed: " + BurrowException.clientMessage(e), "delete", cause, elapsed(t0));
                throw e;
            }
            Failpoints.hit("delete.after-driver");
            return write(intent, VmStatus.DELETED, null, "delete", cause, elapsed(t0));
        }
    }

    /**
     * Grows a VM's disk quota. Only growing: a smaller quota than the VM may already hold would leave it unable to
     * write anything, and a VM made without a quota has none to grow.
     */
    public Vm resizeDisk(String id, int rootfsSizeMb, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "resize")) {
            Vm vm = get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) throw invalid(vm, "resize");
            Integer current = vm.spec().rootfsSizeMb();
            if (current == null) {
                throw BurrowException.badRequest("RESIZE_VM_BAD_REQUEST", "VM " + id + " was created without a disk quota "
                        + "(its disk is only bounded by the host's storage); there is no quota to grow");
            }
            if (rootfsSizeMb < current) {
                throw BurrowException.badRequest("RESIZE_VM_BAD_REQUEST", "a disk quota can only grow: VM " + id + " has "
                        + current + " MiB, asked for " + rootfsSizeMb + " MiB");
            }
            if (rootfsSizeMb == current) return vm;
            diskQuotaFacet().resizeDisk(id, rootfsSizeMb);
            var s = vm.spec();
            var grown = new dev.burrow.core.vm.VmSpec(s.image(), s.vcpuCount(), s.memSizeMb(), s.env(), s.workdir(),
                    s.idleTimeoutSeconds(), s.persistence(), s.labels(), rootfsSizeMb, s.snapshotId(), s.services(), s.network(),
                    s.ports());
            return write(vm.withSpec(grown), vm.status(), vm.statusReason(), "resize", cause, null);
        }
    }

    /** Applies new cpu and memory limits; the spec is updated only once the host accepted them. */
    public Vm resize(String id, int vcpuCount, int memSizeMb, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "resize")) {
            Vm vm = get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) throw invalid(vm, "resize");
            admission.admitResize(vm, vcpuCount, memSizeMb);
            try {
                resourceFacet().resize(id, vcpuCount, memSizeMb);
            } catch (RuntimeException e) {
                // the ledger goes back to what the VM still has
                admission.transitioned(vm, vm.status(), "resize", cause, null, null);
                throw e;
            }
            return write(vm.withSpec(vm.spec().withResources(vcpuCount, memSizeMb)), vm.status(), vm.statusReason(),
                    "resize", cause, null);
        }
    }

    /**
     * Replaces a VM's network policy. The host applies it first (live on a running or suspended VM, kept for the
     * next start of a stopped one); the spec is updated only once the host accepted it.
     */
    public Vm updateNetwork(String id, dev.burrow.core.net.NetworkPolicy policy, String cause) {
        var network = driver.network().orElseThrow(
                () -> BurrowException.badRequest("NETWORKING_DISABLED", "this server runs VMs without networking"));
        try (var held = locks.acquire(id, settings.lockWait(), "network")) {
            Vm vm = get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) throw invalid(vm, "change the network of");
            long t0 = System.nanoTime();
            network.updateNetwork(id, policy);
            return write(vm.withSpec(vm.spec().withNetwork(policy)), vm.status(), vm.statusReason(), "network", cause,
                    elapsed(t0));
        }
    }

    /** The VM's address on the VM network, or null when the driver gives VMs none. */
    public dev.burrow.core.driver.NetworkInfo networkInfo(String id) {
        get(id);
        return driver.network().map(n -> n.networkInfo(id)).orElse(null);
    }

    // ---- snapshots and fork ----

    /**
     * Makes an immutable copy of the VM's disk. There is no snapshotting status: the VM keeps its status (the
     * driver freezes a running VM for the moment the copy takes) and the VM's lock keeps other transitions out.
     * The driver snapshot is made first and the row written after, so a listed snapshot always exists on the host;
     * a crash in between leaves a driver snapshot without a row, which {@link #destroyOrphanSnapshot} removes.
     */
    public Snapshot snapshot(String vmId, String name, String cause) {
        return snapshot(vmId, name, Persistence.DEFAULT, null, null, cause);
    }

    /**
     * A snapshot with the given persistence (sticky or persistent). {@code templateHash} marks a template build (the
     * build cache key) and {@code user} the default user VMs made from it get; both null for a user's snapshot, which
     * inherits the default user of the snapshot its VM was made from.
     */
    public Snapshot snapshot(String vmId, String name, Persistence persistence, String templateHash, String user,
                             String cause) {
        return snapshot(vmId, name, persistence, templateHash, user, null, cause);
    }

    /** With {@code recorded} the spec the snapshot records instead of the VM's (a template build's final env). */
    public Snapshot snapshot(String vmId, String name, Persistence persistence, String templateHash, String user,
                             dev.burrow.core.vm.VmSpec recorded, String cause) {
        requireSnapshots();
        if (persistence != null && persistence.type() == Persistence.Type.EPHEMERAL) {
            throw BurrowException.badRequest("UNSUPPORTED_FIELD", "a snapshot's persistence must be sticky or persistent");
        }
        try (var held = locks.acquire(vmId, settings.lockWait(), "snapshot")) {
            Vm vm = get(vmId);
            switch (vm.status()) {
                case RUNNING, SUSPENDED, STOPPED, HIBERNATED -> { }
                default -> throw invalid(vm, "snapshot");
            }
            String snapshotId = Snapshot.generateId();
            // the snapshot's own lock too: the reconciler must not take the fresh driver snapshot for an orphan
            // before its row is written
            try (var snapHeld = locks.acquire(snapshotId, settings.lockWait(), "snapshot")) {
                Failpoints.hit("snapshot.after-intent");
                long t0 = System.nanoTime();
                snapshotFacet().snapshot(vmId, snapshotId);
                Failpoints.hit("snapshot.after-driver");
                String defaultUser = user;
                if (defaultUser == null && vm.spec().snapshotId() != null) {
                    defaultUser = snapshots.findSnapshot(vm.spec().snapshotId()).map(Snapshot::user).orElse(null);
                }
                Instant at = clock.instant();
                Snapshot snap = new Snapshot(snapshotId, name, vmId, vm.spec().image(), recorded != null ? recorded : vm.spec(),
                        at, persistence, at,
                        templateHash, null, defaultUser);
                try {
                    snapshots.insertSnapshot(snap);
                } catch (RuntimeException e) {
                    deleteDriverSnapshotQuietly(snapshotId);
                    throw e;
                }
                // an event without a status change, so the VM's history shows the snapshot and who asked
                write(vm, vm.status(), vm.statusReason(), "snapshot", cause, elapsed(t0));
                log.info("vm_id={} snapshot_id={} op=snapshot cause={} duration_ms={}", vmId, snapshotId, cause, elapsed(t0));
                return snap;
            }
        }
    }

    /** The result of a fork: the snapshot the forks were made from (kept and listed) and the new VMs. */
    public record Fork(Snapshot snapshot, List<Vm> vms) { }

    /**
     * {@code count} new VMs, each starting from a copy of the source's disk as it is now; the source is untouched.
     * One snapshot and {@code count} ordinary creates from it, so admission control and failure cleanup apply to
     * each. All or nothing: when one create fails, the forks already made are deleted.
     */
    public Fork fork(String vmId, int count, String cause) {
        if (count < 1 || count > MAX_FORKS) {
            throw BurrowException.badRequest("FORK_VM_BAD_REQUEST", "'count' must be between 1 and " + MAX_FORKS + ", got " + count);
        }
        // refused before the snapshot is taken when the forks cannot fit (each create still reserves its own place)
        admission.check(count, get(vmId).spec());
        Snapshot snap = snapshot(vmId, null, cause);
        var s = snap.sourceSpec();
        var forkSpec = new dev.burrow.core.vm.VmSpec(null, s.vcpuCount(), s.memSizeMb(), s.env(), s.workdir(),
                s.idleTimeoutSeconds(), s.persistence(), s.labels(), s.rootfsSizeMb(), snap.id(), s.services(), s.network(), s.ports());
        List<Vm> made = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < count; i++) made.add(create(new CreateVmCommand(forkSpec, Map.of()), cause));
        } catch (RuntimeException e) {
            for (Vm f : made) {
                try {
                    delete(f.id(), cause);
                } catch (RuntimeException cleanup) {
                    log.error("vm_id={} op=fork cleanup of a fork after a failed fork also failed: {}", f.id(),
                            cleanup.getMessage());
                }
            }
            throw e;
        }
        return new Fork(snap, List.copyOf(made));
    }

    /** Renames a snapshot and/or changes its persistence (null keeps the current value). */
    public Snapshot updateSnapshot(String snapshotId, java.util.function.UnaryOperator<Snapshot> change, String cause) {
        try (var held = locks.acquire(snapshotId, settings.lockWait(), "update snapshot")) {
            Snapshot before = findSnapshot(snapshotId);
            Snapshot after = change.apply(before);
            if (after.persistence().type() == Persistence.Type.EPHEMERAL) {
                throw BurrowException.badRequest("UNSUPPORTED_FIELD", "a snapshot's persistence must be sticky or persistent");
            }
            if (!snapshots.updateSnapshot(after)) throw BurrowException.notFound("SNAPSHOT_NOT_FOUND", "snapshot not found: " + snapshotId);
            log.info("snapshot_id={} op=update-snapshot cause={} persistence={} priority={}", snapshotId, cause,
                    after.persistence().wireType(), after.persistence().priority());
            return snapshots.findSnapshot(snapshotId).orElse(after);
        }
    }

    /**
     * Records a failed template build: a row without a disk, listed with {@code failed} and its reason, never
     * created from (a create refuses it) and deletable like any snapshot.
     */
    public Snapshot recordFailedSnapshot(String name, String sourceVmId, dev.burrow.core.vm.VmSpec spec,
                                         Persistence persistence, String templateHash, String reason) {
        requireSnapshots();
        Instant at = clock.instant();
        Snapshot snap = new Snapshot(Snapshot.generateId(), name, sourceVmId == null ? "" : sourceVmId,
                spec.image() == null ? "" : spec.image(), spec, at, persistence, at, templateHash,
                reason == null || reason.isBlank() ? "build failed" : reason, null);
        snapshots.insertSnapshot(snap);
        return snap;
    }

    /** The template build cache: the newest snapshot that is not failed built from a template with this hash. */
    public Optional<Snapshot> findSnapshotByTemplate(String templateHash) {
        requireSnapshots();
        return snapshots.findSnapshotByTemplate(templateHash);
    }

    /** Records a use of the snapshot (a template cache hit): it moves to the back of the eviction order. */
    public void touchSnapshot(String snapshotId) {
        snapshots.touchSnapshot(snapshotId, clock.instant());
    }

    /** Whether a VM that is not deleted was made from the snapshot (then it must not be deleted or evicted). */
    public boolean snapshotInUse(String snapshotId) {
        for (Vm vm : store.everyVm()) {
            if (snapshotId.equals(vm.spec().snapshotId())) return true;
        }
        return false;
    }

    public List<Snapshot> listSnapshots() {
        requireSnapshots();
        return snapshots.listSnapshots();
    }

    public Snapshot findSnapshot(String snapshotId) {
        requireSnapshots();
        if (!Snapshot.validId(snapshotId)) {
            throw BurrowException.badRequest("INVALID_SNAPSHOT_ID", "invalid snapshot id '" + abbreviate(snapshotId)
                    + "': snapshot ids are 'sc-' and 20 lowercase letters and digits");
        }
        return snapshots.findSnapshot(snapshotId)
                .orElseThrow(() -> BurrowException.notFound("SNAPSHOT_NOT_FOUND", "snapshot not found: " + snapshotId));
    }

    /**
     * Deletes a snapshot, refused while a VM made from it is alive (its disk may share data with the snapshot, and
     * a user who forked expects the snapshot to stay meaningful while the forks run). The row goes first: a crash
     * before the driver call leaves an orphan the reconciler removes, never a listed snapshot that is gone.
     */
    public void deleteSnapshot(String snapshotId, String cause) {
        try (var held = locks.acquire(snapshotId, settings.lockWait(), "delete snapshot")) {
            findSnapshot(snapshotId);
            List<String> users = new java.util.ArrayList<>();
            for (Vm vm : store.everyVm()) {
                if (snapshotId.equals(vm.spec().snapshotId())) users.add(vm.id());
            }
            if (!users.isEmpty()) {
                throw BurrowException.conflict("SNAPSHOT_IN_USE", "snapshot " + snapshotId + " is in use by "
                        + users.size() + " VM(s) (" + String.join(", ", users.subList(0, Math.min(5, users.size())))
                        + (users.size() > 5 ? ", …" : "") + "); delete them first");
            }
            snapshots.deleteSnapshot(snapshotId);
            try {
                snapshotFacet().deleteSnapshot(snapshotId);
            } catch (RuntimeException e) {
                // The snapshot is gone for users (no row); what is left on the host is an orphan the reconciler
                // deletes on its next pass, so the request itself succeeded.
                log.warn("snapshot_id={} op=delete-snapshot driver delete failed, the reconciler retries: {}", snapshotId,
                        e.getMessage());
                return;
            }
            log.info("snapshot_id={} op=delete-snapshot cause={}", snapshotId, cause);
        }
    }

    /**
     * Deletes a driver snapshot the store has no row for (a crash between the driver call and the row). Refuses
     * while an operation of this process holds the snapshot's lock: a snapshot in flight has no row yet.
     */
    public boolean destroyOrphanSnapshot(String snapshotId, String cause) {
        if (!Snapshot.validId(snapshotId)) return false;
        Optional<KeyedLocks.Held> held = locks.tryAcquire(snapshotId);
        if (held.isEmpty()) return false;
        try (var h = held.get()) {
            if (snapshots.findSnapshot(snapshotId).isPresent()) return false;
            snapshotFacet().deleteSnapshot(snapshotId);
            log.warn("snapshot_id={} op=destroy-orphan-snapshot cause={} driver snapshot without a store row deleted",
                    snapshotId, cause);
            return true;
        }
    }

    private void requireSnapshots() {
        snapshotFacet();
    }

    private dev.burrow.core.driver.SnapshotFacet snapshotFacet() {
        return driver.snapshots().orElseThrow(
                () -> BurrowException.badRequest("UNSUPPORTED_FIELD", "the " + driver.name() + " driver cannot snapshot disks"));
    }

    // what the other facets' absence means to a caller: a 4xx naming what this node's driver cannot do

    private dev.burrow.core.driver.ProcessFacet processFacet() {
        return driver.processes().orElseThrow(() -> SandboxDriver.unsupported(driver.name(), "run processes in VMs"));
    }

    private dev.burrow.core.driver.FileFacet fileFacet() {
        return driver.files().orElseThrow(() -> SandboxDriver.unsupported(driver.name(), "read or write VM files"));
    }

    private dev.burrow.core.driver.ResourceFacet resourceFacet() {
        return driver.resources().orElseThrow(() -> SandboxDriver.unsupported(driver.name(), "change cpu or memory limits"));
    }

    private dev.burrow.core.driver.DiskQuotaFacet diskQuotaFacet() {
        return driver.diskQuota().orElseThrow(() -> BurrowException.badRequest("UNSUPPORTED_FIELD",
                "the " + driver.name() + " driver has no disk quota on this host"));
    }

    private void deleteDriverSnapshotQuietly(String snapshotId) {
        try {
            snapshotFacet().deleteSnapshot(snapshotId);
        } catch (RuntimeException e) {
            log.error("snapshot_id={} op=snapshot cleanup after a failed row insert also failed (the reconciler retries): {}",
                    snapshotId, e.getMessage());
        }
    }

    // ---- access: exec and files ----

    /**
     * Runs a command. A suspended VM is resumed first (access counts as activity); a stopped one is
     * refused with VM_NOT_RUNNING. The lock is held only while the state is checked, not while the
     * command runs, so a long command never blocks stop or delete.
     */
    public ExecResult exec(String id, ExecRequest request, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "exec")) {
            Vm vm = wake(get(id), cause);
            if (vm.status() != VmStatus.RUNNING) {
                throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "VM_NOT_RUNNING",
                        "VM is not running: " + id + " (status " + vm.status().dbName() + ")");
            }
        }
        store.touch(id, clock.instant());
        try (var slot = execSlots.acquire(id)) {
            return processFacet().exec(id, request);
        }
    }

    /**
     * Starts an interactive process (SSH session, terminal, streaming exec) in a VM, waking it first. The caller
     * owns the returned process and keeps the VM active while it moves data ({@link #ping}).
     */
    public dev.burrow.core.driver.SandboxProcess spawn(String id, dev.burrow.core.driver.ProcessSpec spec, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "spawn")) {
            requireRunning(wake(get(id), cause));
        }
        var slot = execSlots.acquire(id);
        try {
            store.touch(id, clock.instant());
            return new SlotHeldProcess(processFacet().spawn(id, spec), slot);
        } catch (RuntimeException | Error e) {
            slot.close();
            throw e;
        }
    }

    /** Connects to a port on the VM's loopback (port forwarding), waking it first. */
    public java.nio.channels.SocketChannel connect(String id, int port, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "connect")) {
            requireRunning(wake(get(id), cause));
        }
        store.touch(id, clock.instant());
        return processFacet().connect(id, port);
    }

    private static void requireRunning(Vm vm) {
        if (vm.status() != VmStatus.RUNNING) {
            throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "VM_NOT_RUNNING",
                    "VM is not running: " + vm.id() + " (status " + vm.status().dbName() + ")");
        }
    }

    public FileContent readFile(String id, String path, long maxBytes) {
        try (var held = locks.acquire(id, settings.lockWait(), "read file")) {
            requireDisk(wake(get(id), "access"), "read a file");
            store.touch(id, clock.instant());
            return fileFacet().read(id, path, maxBytes);
        }
    }

    public void writeFile(String id, String path, byte[] content, boolean executable) {
        try (var held = locks.acquire(id, settings.lockWait(), "write file")) {
            requireDisk(wake(get(id), "access"), "write a file");
            store.touch(id, clock.instant());
            fileFacet().writeFile(id, path, content, executable);
        }
    }

    /**
     * Opens a file for streaming (see {@link dev.burrow.core.driver.FileFacet#openFile}). The VM's lock is held to wake it and check it
     * has a disk, not while the caller streams, so a slow download never blocks stop or delete.
     */
    public dev.burrow.core.driver.OpenFile openFile(String id, String path, long maxBytes) {
        try (var held = locks.acquire(id, settings.lockWait(), "read file")) {
            requireDisk(wake(get(id), "access"), "read a file");
        }
        store.touch(id, clock.instant());
        return fileFacet().openFile(id, path, maxBytes);
    }

    /** Writes a file from a stream; like {@link #openFile}, the VM's lock is not held while the bytes arrive. */
    public void writeFile(String id, String path, java.io.InputStream content, boolean executable) {
        try (var held = locks.acquire(id, settings.lockWait(), "write file")) {
            requireDisk(wake(get(id), "access"), "write a file");
        }
        store.touch(id, clock.instant());
        fileFacet().writeFile(id, path, content, executable);
    }

    /**
     * Access wakes a VM: a suspended one is thawed, a hibernated one started again, so callers never see
     * the idle machinery. Stopped VMs stay stopped (their disk is still reachable for files).
     */
    private Vm wake(Vm vm, String cause) {
        return switch (vm.status()) {
            case SUSPENDED -> transition(vm, "resume", VmStatus.RESUMING, VmStatus.RUNNING, cause,
                    () -> driver.resume(vm.id()));
            case HIBERNATED -> {
                admission.admitStart(vm);
                yield transition(vm, "start", VmStatus.STARTING, VmStatus.RUNNING, cause, () -> startAndBoot(vm));
            }
            default -> vm;
        };
    }

    /**
     * Activity on an open interactive session (SSH or terminal traffic): counts as activity and wakes the VM if
     * the idle machinery suspended it meanwhile.
     */
    public Vm activity(String id, String cause) {
        Vm vm;
        try (var held = locks.acquire(id, settings.lockWait(), "activity")) {
            vm = wake(get(id), cause);
        }
        store.touch(id, clock.instant());
        return vm;
    }

    /**
     * Starts a sandbox's processes again and runs the boot hook. A failing hook does not fail the start: the VM
     * runs, and what the hook could not do (a service that did not start) is visible where it is reported.
     */
    private void startAndBoot(Vm vm) {
        driver.start(vm.id());
        try {
            bootHook.booted(vm, req -> processFacet().exec(vm.id(), req));
        } catch (RuntimeException e) {
            log.warn("vm_id={} op=start boot hook failed, the VM runs without it: {}", vm.id(), e.getMessage());
        }
    }

    /**
     * Runs a command for Burrow's own bookkeeping (service supervision): only in a running VM, without waking it
     * and without counting as activity, so that supervision never keeps a VM from idling.
     */
    public ExecResult execInternal(String id, ExecRequest request) {
        try (var held = locks.acquire(id, settings.lockWait(), "exec")) {
            Vm vm = get(id);
            if (vm.status() != VmStatus.RUNNING) {
                throw new BurrowException(BurrowException.Kind.CONFLICT, "VM_NOT_RUNNING",
                        "VM is not running: " + id + " (status " + vm.status().dbName() + ")");
            }
        }
        return processFacet().exec(id, request);
    }

    /**
     * Changes the services of a VM's spec (services added or removed at run time); recorded as an event without a
     * status change. {@code change} sees the current list under the VM's lock and may throw to refuse.
     */
    public Vm updateServices(String id, java.util.function.UnaryOperator<List<dev.burrow.core.vm.ServiceSpec>> change,
                             String op, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), op)) {
            Vm vm = get(id);
            if (vm.status().transitional()) throw invalid(vm, op);
            var next = change.apply(vm.spec().services());
            return write(vm.withSpec(vm.spec().withServices(next)), vm.status(), vm.statusReason(), op, cause, null);
        }
    }

    /**
     * Traffic to or from a VM through Burrow (preview proxy, SSH port forwards): sets its last network activity and
     * counts as activity, waking the VM if the idle machinery suspended it meanwhile. Callers throttle.
     */
    public Vm networkActivity(String id, String cause) {
        Vm vm;
        try (var held = locks.acquire(id, settings.lockWait(), "activity")) {
            vm = wake(get(id), cause);
        }
        store.touchNetwork(id, clock.instant());
        return vm;
    }

    /** Explicit activity signal (keeps an idle timeout from firing). */
    public Vm ping(String id) {
        Vm vm = get(id);
        store.touch(id, clock.instant());
        return vm;
    }

    public List<VmEvent> events(String id, int limit) {
        get(id);
        return store.events(id, limit);
    }

    // ---- reconciliation (called by the Reconciler and the timeout sweeper, never by HTTP) ----

    /** What a reconcile pass did to one VM. */
    public enum ReconcileAction { NONE, BUSY, SETTLED_INTENT, ROLLED_BACK_CREATE, COMPLETED_DELETE, CRASHED, OBSERVED, MISSING }

    /**
     * Brings one VM's stored status in line with the host. Skips a VM whose lock is held: an operation is
     * in flight in this process, so its intent is not stale. Intents found unlocked were left by a crash:
     * a create is rolled back, a delete completed, anything else settles on what the host holds. A stable
     * status the host contradicts is corrected, with a reason that tells a crash from a deliberate suspend.
     */
    public ReconcileAction reconcile(String id, String cause) {
        Optional<KeyedLocks.Held> held = locks.tryAcquire(id);
        if (held.isEmpty()) return ReconcileAction.BUSY;
        try (var h = held.get()) {
            Vm vm = store.find(id).orElse(null);
            if (vm == null || vm.status() == VmStatus.DELETED) return ReconcileAction.NONE;
            switch (vm.status()) {
                case PULLING -> {
                    if (pullingNow.contains(id)) return ReconcileAction.BUSY;
                    // No host resource exists while a VM pulls; destroy anyway, it is idempotent and cheap.
                    driver.destroy(id);
                    write(vm, VmStatus.DELETED, "create interrupted while pulling its image (server stopped); rolled back",
                            "create", cause, null);
                    return ReconcileAction.ROLLED_BACK_CREATE;
                }
                case CREATING -> {
                    long t0 = System.nanoTime();
                    driver.destroy(id);
                    write(vm, VmStatus.DELETED, "create interrupted (server stopped mid-create); rolled back", "create",
                            cause, elapsed(t0));
                    return ReconcileAction.ROLLED_BACK_CREATE;
                }
                case DELETING -> {
                    deleteLocked(vm, cause);
                    return ReconcileAction.COMPLETED_DELETE;
                }
                default -> { }
            }
            SandboxState host = driver.state(id);
            if (vm.status().transitional()) {
                VmStatus to = switch (host) {
                    case RUNNING -> VmStatus.RUNNING;
                    case PAUSED -> VmStatus.SUSPENDED;
                    case STOPPED -> vm.status() == VmStatus.HIBERNATING ? VmStatus.HIBERNATED : VmStatus.STOPPED;
                    case ABSENT -> VmStatus.FAILED;
                };
                write(vm, to, vm.status().dbName() + " interrupted; settled on the host's state (" + host.name().toLowerCase()
                        + ")", "reconcile", cause, null);
                return ReconcileAction.SETTLED_INTENT;
            }
            VmStatus expected = vm.status();
            VmStatus observed = switch (host) {
                case RUNNING -> VmStatus.RUNNING;
                case PAUSED -> VmStatus.SUSPENDED;
                case STOPPED -> expected == VmStatus.HIBERNATED || expected == VmStatus.FAILED ? expected : VmStatus.STOPPED;
                case ABSENT -> VmStatus.FAILED;
            };
            if (observed == expected || expected == VmStatus.FAILED) return ReconcileAction.NONE;
            if (host == SandboxState.ABSENT) {
                write(vm, VmStatus.FAILED, "host resources missing: the VM's disk and container are gone", "reconcile",
                        cause, null);
                return ReconcileAction.MISSING;
            }
            if (observed == VmStatus.STOPPED && (expected == VmStatus.RUNNING || expected == VmStatus.SUSPENDED)) {
                write(vm, VmStatus.STOPPED, "crashed: the VM's processes exited without a stop request (was "
                        + expected.dbName() + ")", "reconcile", cause, null);
                return ReconcileAction.CRASHED;
            }
            write(vm, observed, "observed " + observed.dbName() + " on the host (was " + expected.dbName() + ")",
                    "reconcile", cause, null);
            return ReconcileAction.OBSERVED;
        }
    }

    /**
     * Destroys host resources of a VM the store does not hold alive (an orphan: left by a crash, or by a
     * store that was reset). Refuses when the store has the VM alive or it is locked by an operation.
     */
    public boolean destroyOrphan(String vmId, String cause) {
        Optional<KeyedLocks.Held> held = locks.tryAcquire(vmId);
        if (held.isEmpty()) return false;
        try (var h = held.get()) {
            Optional<Vm> vm = store.find(vmId);
            if (vm.isPresent() && vm.get().status() != VmStatus.DELETED) return false;
            driver.destroy(vmId);
            log.warn("vm_id={} op=destroy-orphan cause={} host resources without a live VM destroyed", vmId, cause);
            return true;
        }
    }

    /**
     * A VM stuck in a transitional status for longer than {@code limit} (and not locked by an operation of
     * this process): failed and cleaned. A create is rolled back; other intents settle on the host's state.
     */
    public ReconcileAction expireStuck(String id, Instant now, Duration limit, String cause) {
        Optional<Vm> vm = store.find(id);
        if (vm.isEmpty() || !vm.get().status().transitional()) return ReconcileAction.NONE;
        if (vm.get().updatedAt().plus(limit).isAfter(now)) return ReconcileAction.NONE;
        return reconcile(id, cause);
    }

    private Optional<Vm> idempotentReplay(String key, String requestHash) {
        Optional<VmStore.IdempotencyKey> earlier = store.findIdempotencyKey(key);
        if (earlier.isEmpty()) return Optional.empty();
        if (!earlier.get().requestHash().equals(requestHash)) {
            throw BurrowException.conflict("IDEMPOTENCY_KEY_REUSED", "Idempotency-Key '" + key
                    + "' was already used for a different request (VM " + earlier.get().vmId() + ")");
        }
        return store.find(earlier.get().vmId());
    }

    // ---- internals ----

    private void requireDisk(Vm vm, String what) {
        switch (vm.status()) {
            case RUNNING, SUSPENDED, STOPPED, HIBERNATED -> { }
            default -> throw new BurrowException(BurrowException.Kind.CONFLICT, "VM_OPERATION_DENIED_DURING_TRANSACTION",
                    "cannot " + what + " on VM " + vm.id() + " while it is " + vm.status().dbName());
        }
    }

    private Vm transition(Vm vm, String op, VmStatus intent, VmStatus success, String cause, Runnable driverCall) {
        if (!vm.status().canMoveTo(intent)) throw invalid(vm, op);
        Vm pending = write(vm, intent, null, op, cause, null);
        Failpoints.hit(op + ".after-intent");
        long t0 = System.nanoTime();
        try {
            driverCall.run();
        } catch (RuntimeException e) {
            VmStatus actual = settle(vm.id());
            log.warn("vm_id={} op={} driver call failed, host says {}: {}", vm.id(), op, actual, e.getMessage());
            write(pending, actual, op + " failed: " + BurrowException.clientMessage(e), op, cause, elapsed(t0));
            throw e;
        }
        Failpoints.hit(op + ".after-driver");
        return write(pending, success, null, op, cause, elapsed(t0));
    }

    /** What status the host's real state corresponds to, after a failed driver call. */
    private VmStatus settle(String id) {
        try {
            SandboxState s = driver.state(id);
            return switch (s) {
                case RUNNING -> VmStatus.RUNNING;
                case PAUSED -> VmStatus.SUSPENDED;
                case STOPPED -> VmStatus.STOPPED;
                case ABSENT -> VmStatus.FAILED;
            };
        } catch (RuntimeException e) {
            return VmStatus.FAILED;
        }
    }

    private Vm write(Vm vm, VmStatus next, String reason, String op, String cause, Long durationMs) {
        if (next != vm.status() && !vm.status().canMoveTo(next)) {
            // A bug, not a user error: the table is the contract.
            throw new IllegalStateException("transition table forbids " + vm.status() + " -> " + next + " for " + vm.id());
        }
        Instant now = clock.instant();
        VmEvent event = VmEvent.of(vm.id(), now, vm.status(), next, op, cause, reason, durationMs);
        Vm updated = store.update(vm.withStatus(next, reason, now), event)
                .orElseThrow(() -> new BurrowException(BurrowException.Kind.CONFLICT,
                        "VM_OPERATION_DENIED_DURING_TRANSACTION",
                        "VM " + vm.id() + " was changed concurrently; retry"));
        // not a listener: the ledger must follow every write, whatever listeners do
        admission.transitioned(updated, vm.status(), op, cause, durationMs, reason);
        // the structured line per transition is written by a TransitionListener (it knows the VM type)
        notifyListeners(updated, vm.status(), op, cause, durationMs, reason);
        return updated;
    }

    private void notifyListeners(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason) {
        for (TransitionListener l : listeners) {
            try {
                l.transitioned(vm, from, op, cause, durationMs, reason);
            } catch (RuntimeException e) {
                log.warn("vm_id={} transition listener failed: {}", vm.id(), e.toString());
            }
        }
    }

    private void notifyCreateRejected(dev.burrow.core.vm.VmSpec spec, String cause, String reason) {
        for (TransitionListener l : listeners) {
            try {
                l.createRejected(spec, cause, reason);
            } catch (RuntimeException e) {
                log.warn("create-rejected listener failed: {}", e.toString());
            }
        }
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

    private static BurrowException invalid(Vm vm, String op) {
        return new BurrowException(BurrowException.Kind.CONFLICT, "INVALID_STATE_TRANSITION",
                "cannot " + op + " VM " + vm.id() + ": it is " + vm.status().dbName());
    }

    private static long elapsed(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }

    private static String abbreviate(String s) {
        if (s == null) return "";
        return s.length() > 40 ? s.substring(0, 40) + "…" : s;
    }

}
