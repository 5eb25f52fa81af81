package dev.burrow.core.lifecycle;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.internal.KeyedLocks;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
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
    public record Settings(Duration lockWait, Duration stopGrace, int pidsLimit, String defaultImage) {
        public static Settings defaults(String defaultImage) {
            return new Settings(Duration.ofSeconds(120), Duration.ofSeconds(10), 4096, defaultImage);
        }
    }

    private final VmStore store;
    private final SandboxDriver driver;
    private final Clock clock;
    private final String nodeId;
    private final Settings settings;
    private final KeyedLocks locks = new KeyedLocks();
    private final List<TransitionListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    public LifecycleCoordinator(VmStore store, SandboxDriver driver, Clock clock, String nodeId, Settings settings) {
        this.store = store;
        this.driver = driver;
        this.clock = clock;
        this.nodeId = nodeId;
        this.settings = settings;
    }

    public void addListener(TransitionListener listener) {
        listeners.add(listener);
    }

    public Settings settings() {
        return settings;
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

    // ---- transitions ----

    /**
     * Creates and starts a VM. The row (status {@code creating}) exists before any host resource does;
     * if anything fails, whatever the driver made is destroyed and the VM ends deleted, with the reason
     * in its events.
     */
    public Vm create(CreateVmCommand command, String cause) {
        var spec = command.spec();
        String image = spec.image() == null || spec.image().isBlank() ? settings.defaultImage() : spec.image();
        // Preparing (pulling, unpacking) the image happens before the VM exists, so a bad image reference
        // fails the request without leaving a row behind.
        var imageInfo = driver.prepareImage(image, SandboxDriver.ProgressListener.NONE);
        Instant now = clock.instant();
        String id = VmId.generate();
        var effective = new dev.burrow.core.vm.VmSpec(image, spec.vcpuCount(), spec.memSizeMb(), spec.env(),
                spec.workdir(), spec.idleTimeoutSeconds(), spec.persistence(), spec.labels());
        Vm vm = new Vm(id, effective, VmStatus.CREATING, null, now, now, now, nodeId, driver.name(), null, 0);
        try (var held = locks.acquire(id, settings.lockWait(), "create")) {
            store.insert(vm, VmEvent.of(id, now, null, VmStatus.CREATING, "create", cause, image, null));
            vm = store.find(id).orElseThrow();
            notifyListeners(vm, null, "create", cause, null, null);
            Failpoints.hit("create.after-intent");
            long t0 = System.nanoTime();
            try {
                String handle = driver.create(new SandboxSpec(id, imageInfo.ref(), spec.vcpuCount(), spec.memSizeMb(),
                        settings.pidsLimit(), spec.env(), spec.workdir(), id));
                Failpoints.hit("create.after-driver");
                for (var f : command.files().entrySet()) {
                    driver.writeFile(id, f.getKey(), f.getValue().content(), f.getValue().executable());
                }
                vm = vm.withHandle(handle);
            } catch (RuntimeException e) {
                // Leave a deleted tombstone only when the host is really clean; otherwise FAILED keeps the
                // VM visible so delete (or the reconciler) can finish the job.
                boolean clean = destroyQuietly(id);
                write(vm, clean ? VmStatus.DELETED : VmStatus.FAILED, "create failed: " + e.getMessage(), "create",
                        cause, elapsed(t0));
                throw e;
            }
            return write(vm, VmStatus.RUNNING, null, "create", cause, elapsed(t0));
        }
    }

    /** Starts a stopped VM or resumes a suspended one; a running VM is returned as is. */
    public Vm start(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "start")) {
            Vm vm = get(id);
            return switch (vm.status()) {
                case RUNNING -> vm;
                case SUSPENDED -> transition(vm, "resume", VmStatus.RESUMING, VmStatus.RUNNING, cause,
                        () -> driver.resume(id));
                case STOPPED, FAILED -> transition(vm, "start", VmStatus.STARTING, VmStatus.RUNNING, cause,
                        () -> driver.start(id));
                default -> throw invalid(vm, "start");
            };
        }
    }

    public Vm suspend(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "suspend")) {
            Vm vm = get(id);
            if (vm.status() == VmStatus.SUSPENDED) return vm;
            if (vm.status() != VmStatus.RUNNING) throw invalid(vm, "suspend");
            return transition(vm, "suspend", VmStatus.SUSPENDING, VmStatus.SUSPENDED, cause, () -> driver.suspend(id));
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
            return transition(vm, op, VmStatus.STOPPING, VmStatus.STOPPED, cause, () -> driver.stop(id, grace));
        }
    }

    /**
     * Releases everything the VM holds on the host. Allowed from every status, including a transitional
     * one left behind by a crash: deleting must always be possible.
     */
    public Vm delete(String id, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "delete")) {
            Vm vm = get(id);
            Vm intent = vm.status() == VmStatus.DELETING ? vm
                    : write(vm, VmStatus.DELETING, null, "delete", cause, null);
            Failpoints.hit("delete.after-intent");
            long t0 = System.nanoTime();
            try {
                driver.destroy(id);
            } catch (RuntimeException e) {
                write(intent, VmStatus.FAILED, "delete failed: " + e.getMessage(), "delete", cause, elapsed(t0));
                throw e;
            }
            Failpoints.hit("delete.after-driver");
            return write(intent, VmStatus.DELETED, null, "delete", cause, elapsed(t0));
        }
    }

    /** Applies new cpu and memory limits; the spec is updated only once the host accepted them. */
    public Vm resize(String id, int vcpuCount, int memSizeMb, String cause) {
        try (var held = locks.acquire(id, settings.lockWait(), "resize")) {
            Vm vm = get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) throw invalid(vm, "resize");
            driver.resize(id, vcpuCount, memSizeMb);
            var s = vm.spec();
            var spec = new dev.burrow.core.vm.VmSpec(s.image(), vcpuCount, memSizeMb, s.env(), s.workdir(),
                    s.idleTimeoutSeconds(), s.persistence(), s.labels());
            return write(vm.withSpec(spec), vm.status(), vm.statusReason(), "resize", cause, null);
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
            Vm vm = get(id);
            if (vm.status() == VmStatus.SUSPENDED) {
                vm = transition(vm, "resume", VmStatus.RESUMING, VmStatus.RUNNING, cause, () -> driver.resume(id));
            }
            if (vm.status() != VmStatus.RUNNING) {
                throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "VM_NOT_RUNNING",
                        "VM is not running: " + id + " (status " + vm.status().dbName() + ")");
            }
        }
        store.touch(id, clock.instant());
        return driver.exec(id, request);
    }

    public FileContent readFile(String id, String path, long maxBytes) {
        try (var held = locks.acquire(id, settings.lockWait(), "read file")) {
            requireDisk(get(id), "read a file");
            store.touch(id, clock.instant());
            return driver.read(id, path, maxBytes);
        }
    }

    public void writeFile(String id, String path, byte[] content, boolean executable) {
        try (var held = locks.acquire(id, settings.lockWait(), "write file")) {
            requireDisk(get(id), "write a file");
            store.touch(id, clock.instant());
            driver.writeFile(id, path, content, executable);
        }
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

    // ---- internals ----

    private void requireDisk(Vm vm, String what) {
        switch (vm.status()) {
            case RUNNING, SUSPENDED, STOPPED -> { }
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
            write(pending, actual, op + " failed: " + e.getMessage(), op, cause, elapsed(t0));
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
        log.info("vm_id={} op={} from={} to={} cause={} duration_ms={}{}", vm.id(), op, vm.status().dbName(),
                next.dbName(), cause, durationMs == null ? "-" : durationMs, reason == null ? "" : " reason=\"" + reason + "\"");
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
