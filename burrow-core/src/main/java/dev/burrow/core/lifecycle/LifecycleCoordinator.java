package dev.burrow.core.lifecycle;

import java.io.InputStream;
import java.nio.channels.SocketChannel;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;

import dev.burrow.core.admission.ExecSlots;
import dev.burrow.core.admission.VmAdmission;
import dev.burrow.core.driver.DriverCapabilities;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.FileFacet;
import dev.burrow.core.driver.NetworkInfo;
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.image.ImageCache;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.ServiceSpec;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/**
 * The only code that changes a VM's status or calls the driver, as a facade: each operation is one class of this
 * package (create, wake, suspend, stop, delete, snapshot, fork, update, the data plane, reconciliation) and all of
 * them go through one {@link Transitions} core, which alone writes status, holds the per-VM locks, feeds admission
 * and tells the listeners. Every transition is serialized per VM and follows one shape: check the transition table,
 * write the intent and its event in one transaction, call the driver, write the outcome. When the driver fails, the
 * outcome is whatever the host really holds afterwards, so the store never claims a state the host does not have.
 */
public final class LifecycleCoordinator {

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

    /** What a reconcile pass did to one VM. */
    public enum ReconcileAction { NONE, BUSY, SETTLED_INTENT, ROLLED_BACK_CREATE, COMPLETED_DELETE, CRASHED, OBSERVED, MISSING }

    /** The result of a fork: the snapshot the forks were made from (kept and listed) and the new VMs. */
    public record Fork(Snapshot snapshot, List<Vm> vms) { }

    private final VmStore store;
    private final SandboxDriver driver;
    private final Settings settings;
    private final String nodeId;
    private final ImageCache images;
    private final Transitions transitions;
    private final WakeOperation wake;
    private final SuspendOperation suspend;
    private final StopOperation stop;
    private final DeleteOperation delete;
    private final SnapshotOperation snapshots;
    private final CreatePipeline pipeline;
    private final CreateOperation create;
    private final ForkOperation fork;
    private final UpdateOperation update;
    private final DataPlane data;
    private final Reconciliation reconciliation;

    /** {@code images} is the node's image cache over the same driver; the coordinator leases images from it. */
    public LifecycleCoordinator(VmStore store, SnapshotStore snapshots, SandboxDriver driver, ImageCache images,
                                Clock clock, String nodeId, Settings settings) {
        this.store = store;
        this.driver = driver;
        this.settings = settings;
        this.nodeId = nodeId;
        this.images = Objects.requireNonNull(images, "images");
        this.transitions = new Transitions(store, driver, clock, settings);
        this.wake = new WakeOperation(transitions);
        this.delete = new DeleteOperation(transitions);
        this.suspend = new SuspendOperation(transitions, delete);
        this.stop = new StopOperation(transitions, delete);
        this.snapshots = new SnapshotOperation(transitions, Objects.requireNonNull(snapshots, "snapshots"));
        this.data = new DataPlane(transitions, wake);
        this.pipeline = new CreatePipeline(transitions, wake, data, delete);
        this.create = new CreateOperation(transitions, this.snapshots, pipeline, snapshots, images, nodeId);
        this.fork = new ForkOperation(transitions, this.snapshots, create, delete);
        this.update = new UpdateOperation(transitions);
        this.reconciliation = new Reconciliation(transitions, delete, create::pulling);
    }

    // ---- wiring ----

    public void addListener(TransitionListener listener) {
        transitions.addListener(listener);
    }

    /** What runs inside a VM whenever its processes (re)start (services started at boot). One hook. */
    public void setBootHook(BootHook hook) {
        wake.setBootHook(hook);
    }

    /** How the create pipeline clones repositories through a VM's network (git, from the server). */
    public void setRepoCloner(RepoCloner cloner) {
        pipeline.setRepoCloner(cloner);
    }

    /** How the create pipeline maps a new VM's custom domains (the server's domain mappings). */
    public void setDomainAttacher(DomainAttacher attacher) {
        pipeline.setDomainAttacher(attacher);
    }

    /**
     * Admits creates, starts and resizes against the node's capacity from now on. Loads the VMs the store holds, so
     * call it once at start, before requests arrive.
     */
    public void setAdmission(VmAdmission admission) {
        transitions.setAdmission(admission, nodeId);
    }

    /** Caps concurrent execs and spawned processes from now on. */
    public void setExecSlots(ExecSlots slots) {
        data.setExecSlots(slots);
    }

    public VmAdmission admission() {
        return transitions.admission();
    }

    public ExecSlots execSlots() {
        return data.execSlots();
    }

    public Settings settings() {
        return settings;
    }

    /** What the driver can honour (the API refuses fields it cannot, e.g. a disk quota without one). */
    public DriverCapabilities capabilities() {
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
        return transitions.get(id);
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

    public List<VmEvent> events(String id, int limit) {
        transitions.get(id);
        return store.events(id, limit);
    }

    // ---- create, images ----

    /** Creates and starts a VM: the steps of {@link CreatePipeline}, in order. */
    public Vm create(CreateVmCommand command, String cause) {
        return create.create(command, cause, null, null);
    }

    /**
     * Creates a VM; with an {@code idempotencyKey}, a retry of the same request returns the VM the first
     * one made (whatever its status now) and a different request under the same key is refused.
     */
    public Vm create(CreateVmCommand command, String cause, String idempotencyKey, String requestHash) {
        return create.create(command, cause, idempotencyKey, requestHash);
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
    public Set<String> imagesNamedByVms() {
        Set<String> named = new HashSet<>();
        for (Vm vm : store.everyVm(nodeId)) {
            if (vm.spec().image() != null) named.add(vm.spec().image());
        }
        return named;
    }

    // ---- start, suspend, stop, delete ----

    /** Starts a stopped VM or resumes a suspended one; a running VM is returned as is. */
    public Vm start(String id, String cause) {
        return wake.start(id, cause);
    }

    public Vm suspend(String id, String cause) {
        return suspend.suspend(id, cause);
    }

    /**
     * Tears down the processes of a VM that stayed suspended for long (memory is released), keeping its
     * disk. The next access starts it again.
     */
    public Vm hibernate(String id, String cause) {
        return suspend.hibernate(id, cause);
    }

    /** Ends the VM's processes gracefully; its disk is kept. */
    public Vm stop(String id, String cause) {
        return stop.stop(id, cause);
    }

    /** Like stop, without the grace period. */
    public Vm kill(String id, String cause) {
        return stop.kill(id, cause);
    }

    /**
     * Releases everything the VM holds on the host. Allowed from every status, including a transitional
     * one left behind by a crash: deleting must always be possible.
     */
    public Vm delete(String id, String cause) {
        return delete.delete(id, cause);
    }

    // ---- spec updates ----

    /**
     * Grows a VM's disk quota. Only growing: a smaller quota than the VM may already hold would leave it unable to
     * write anything, and a VM made without a quota has none to grow.
     */
    public Vm resizeDisk(String id, int rootfsSizeMb, String cause) {
        return update.resizeDisk(id, rootfsSizeMb, cause);
    }

    /** Applies new cpu and memory limits; the spec is updated only once the host accepted them. */
    public Vm resize(String id, int vcpuCount, int memSizeMb, String cause) {
        return update.resize(id, vcpuCount, memSizeMb, cause);
    }

    /**
     * Replaces a VM's network policy. The host applies it first (live on a running or suspended VM, kept for the
     * next start of a stopped one); the spec is updated only once the host accepted it.
     */
    public Vm updateNetwork(String id, NetworkPolicy policy, String cause) {
        return update.updateNetwork(id, policy, cause);
    }

    /**
     * Changes the services of a VM's spec (services added or removed at run time); recorded as an event without a
     * status change. {@code change} sees the current list under the VM's lock and may throw to refuse.
     */
    public Vm updateServices(String id, UnaryOperator<List<ServiceSpec>> change, String op, String cause) {
        return update.updateServices(id, change, op, cause);
    }

    /** The VM's address on the VM network, or null when the driver gives VMs none. */
    public NetworkInfo networkInfo(String id) {
        return data.networkInfo(id);
    }

    // ---- snapshots and fork ----

    /**
     * Makes an immutable copy of the VM's disk. There is no snapshotting status: the VM keeps its status (the
     * driver freezes a running VM for the moment the copy takes) and the VM's lock keeps other transitions out.
     * The driver snapshot is made first and the row written after, so a listed snapshot always exists on the host;
     * a crash in between leaves a driver snapshot without a row, which {@link #destroyOrphanSnapshot} removes.
     */
    public Snapshot snapshot(String vmId, String name, String cause) {
        return snapshots.snapshot(vmId, name, Persistence.DEFAULT, null, null, null, cause);
    }

    /**
     * A snapshot with the given persistence (sticky or persistent). {@code templateHash} marks a template build (the
     * build cache key) and {@code user} the default user VMs made from it get; both null for a user's snapshot, which
     * inherits the default user of the snapshot its VM was made from.
     */
    public Snapshot snapshot(String vmId, String name, Persistence persistence, String templateHash, String user,
                             String cause) {
        return snapshots.snapshot(vmId, name, persistence, templateHash, user, null, cause);
    }

    /** With {@code recorded} the spec the snapshot records instead of the VM's (a template build's final env). */
    public Snapshot snapshot(String vmId, String name, Persistence persistence, String templateHash, String user,
                             VmSpec recorded, String cause) {
        return snapshots.snapshot(vmId, name, persistence, templateHash, user, recorded, cause);
    }

    /**
     * {@code count} new VMs, each starting from a copy of the source's disk as it is now; the source is untouched.
     * One snapshot and {@code count} ordinary creates from it, so admission control and failure cleanup apply to
     * each. All or nothing: when one create fails, the forks already made are deleted.
     */
    public Fork fork(String vmId, int count, String cause) {
        return fork.fork(vmId, count, cause);
    }

    /** Renames a snapshot and/or changes its persistence (null keeps the current value). */
    public Snapshot updateSnapshot(String snapshotId, UnaryOperator<Snapshot> change, String cause) {
        return snapshots.updateSnapshot(snapshotId, change, cause);
    }

    /**
     * Records a failed template build: a row without a disk, listed with {@code failed} and its reason, never
     * created from (a create refuses it) and deletable like any snapshot.
     */
    public Snapshot recordFailedSnapshot(String name, String sourceVmId, VmSpec spec, Persistence persistence,
                                         String templateHash, String reason) {
        return snapshots.recordFailedSnapshot(name, sourceVmId, spec, persistence, templateHash, reason);
    }

    /** The template build cache: the newest snapshot that is not failed built from a template with this hash. */
    public Optional<Snapshot> findSnapshotByTemplate(String templateHash) {
        return snapshots.findSnapshotByTemplate(templateHash);
    }

    /** Records a use of the snapshot (a template cache hit): it moves to the back of the eviction order. */
    public void touchSnapshot(String snapshotId) {
        snapshots.touchSnapshot(snapshotId);
    }

    /** Whether a VM that is not deleted was made from the snapshot (then it must not be deleted or evicted). */
    public boolean snapshotInUse(String snapshotId) {
        return snapshots.snapshotInUse(snapshotId);
    }

    public List<Snapshot> listSnapshots() {
        return snapshots.listSnapshots();
    }

    public Snapshot findSnapshot(String snapshotId) {
        return snapshots.findSnapshot(snapshotId);
    }

    /**
     * Deletes a snapshot, refused while a VM made from it is alive (its disk may share data with the snapshot, and
     * a user who forked expects the snapshot to stay meaningful while the forks run). The row goes first: a crash
     * before the driver call leaves an orphan the reconciler removes, never a listed snapshot that is gone.
     */
    public void deleteSnapshot(String snapshotId, String cause) {
        snapshots.deleteSnapshot(snapshotId, cause);
    }

    /**
     * Deletes a driver snapshot the store has no row for (a crash between the driver call and the row). Refuses
     * while an operation of this process holds the snapshot's lock: a snapshot in flight has no row yet.
     */
    public boolean destroyOrphanSnapshot(String snapshotId, String cause) {
        return snapshots.destroyOrphanSnapshot(snapshotId, cause);
    }

    // ---- the data plane: exec, processes, connections, files, activity ----

    /**
     * Runs a command. A suspended VM is resumed first (access counts as activity); a stopped one is
     * refused with VM_NOT_RUNNING. The lock is held only while the state is checked, not while the
     * command runs, so a long command never blocks stop or delete.
     */
    public ExecResult exec(String id, ExecRequest request, String cause) {
        return data.exec(id, request, cause);
    }

    /**
     * Runs a command for Burrow's own bookkeeping (service supervision): only in a running VM, without waking it
     * and without counting as activity, so that supervision never keeps a VM from idling.
     */
    public ExecResult execInternal(String id, ExecRequest request) {
        return data.execInternal(id, request);
    }

    /**
     * Starts an interactive process (SSH session, terminal, streaming exec) in a VM, waking it first. The caller
     * owns the returned process and keeps the VM active while it moves data ({@link #ping}).
     */
    public SandboxProcess spawn(String id, ProcessSpec spec, String cause) {
        return data.spawn(id, spec, cause);
    }

    /** Connects to a port on the VM's loopback (port forwarding), waking it first. */
    public SocketChannel connect(String id, int port, String cause) {
        return data.connect(id, port, cause);
    }

    public FileContent readFile(String id, String path, long maxBytes) {
        return data.readFile(id, path, maxBytes);
    }

    public void writeFile(String id, String path, byte[] content, boolean executable) {
        data.writeFile(id, path, content, executable);
    }

    /**
     * Opens a file for streaming (see {@link FileFacet#openFile}). The VM's lock is held to wake it and check it
     * has a disk, not while the caller streams, so a slow download never blocks stop or delete.
     */
    public OpenFile openFile(String id, String path, long maxBytes) {
        return data.openFile(id, path, maxBytes);
    }

    /** Writes a file from a stream; like {@link #openFile}, the VM's lock is not held while the bytes arrive. */
    public void writeFile(String id, String path, InputStream content, boolean executable) {
        data.writeFile(id, path, content, executable);
    }

    /**
     * Activity on an open interactive session (SSH or terminal traffic): counts as activity and wakes the VM if
     * the idle machinery suspended it meanwhile.
     */
    public Vm activity(String id, String cause) {
        return data.activity(id, cause);
    }

    /**
     * Traffic to or from a VM through Burrow (preview proxy, SSH port forwards): sets its last network activity and
     * counts as activity, waking the VM if the idle machinery suspended it meanwhile. Callers throttle.
     */
    public Vm networkActivity(String id, String cause) {
        return data.networkActivity(id, cause);
    }

    /** Explicit activity signal (keeps an idle timeout from firing). */
    public Vm ping(String id) {
        return data.ping(id);
    }

    // ---- reconciliation (called by the Reconciler and the timeout sweeper, never by HTTP) ----

    /**
     * Brings one VM's stored status in line with the host. Skips a VM whose lock is held: an operation is
     * in flight in this process, so its intent is not stale. Intents found unlocked were left by a crash:
     * a create is rolled back, a delete completed, anything else settles on what the host holds. A stable
     * status the host contradicts is corrected, with a reason that tells a crash from a deliberate suspend.
     */
    public ReconcileAction reconcile(String id, String cause) {
        return reconciliation.reconcile(id, cause);
    }

    /**
     * Destroys host resources of a VM the store does not hold alive (an orphan: left by a crash, or by a
     * store that was reset). Refuses when the store has the VM alive or it is locked by an operation.
     */
    public boolean destroyOrphan(String vmId, String cause) {
        return reconciliation.destroyOrphan(vmId, cause);
    }

    /**
     * A VM stuck in a transitional status for longer than {@code limit} (and not locked by an operation of
     * this process): failed and cleaned. A create is rolled back; other intents settle on the host's state.
     */
    public ReconcileAction expireStuck(String id, Instant now, Duration limit, String cause) {
        return reconciliation.expireStuck(id, now, limit, cause);
    }
}
