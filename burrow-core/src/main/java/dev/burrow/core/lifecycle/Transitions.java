package dev.burrow.core.lifecycle;

import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.fault.Failpoints;
import dev.burrow.core.admission.VmAdmission;
import dev.burrow.core.driver.DiskQuotaFacet;
import dev.burrow.core.driver.FileFacet;
import dev.burrow.core.driver.ProcessFacet;
import dev.burrow.core.driver.ResourceFacet;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.driver.SnapshotFacet;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.internal.KeyedLocks;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/**
 * The transitions core every operation class goes through: the only code that writes a VM's status (a new row with
 * {@link #insert}, every change after with {@link #write}), the per-VM (and per-snapshot) locks, the admission ledger
 * that follows every write, and the listeners told after each write committed. An operation takes the VM's lock,
 * checks the transition table, and either writes directly or runs {@link #transition}: intent, driver call, outcome.
 */
final class Transitions {
    private static final Logger log = LoggerFactory.getLogger(Transitions.class);

    private final VmStore store;
    private final SandboxDriver driver;
    private final Clock clock;
    private final LifecycleCoordinator.Settings settings;
    private final KeyedLocks locks = new KeyedLocks();
    private final List<TransitionListener> listeners = new CopyOnWriteArrayList<>();
    /** VM count, cpu and memory against the node's capacity; unlimited until {@link #setAdmission}. */
    private volatile VmAdmission admission = new VmAdmission(null);

    Transitions(VmStore store, SandboxDriver driver, Clock clock, LifecycleCoordinator.Settings settings) {
        this.store = store;
        this.driver = driver;
        this.clock = clock;
        this.settings = settings;
    }

    VmStore store() {
        return store;
    }

    SandboxDriver driver() {
        return driver;
    }

    Clock clock() {
        return clock;
    }

    LifecycleCoordinator.Settings settings() {
        return settings;
    }

    // ---- driver facets: what their absence means to a caller is a 4xx naming what this node's driver cannot do ----

    ProcessFacet processes() {
        return driver.processes().orElseThrow(() -> SandboxDriver.unsupported(driver.name(), "run processes in VMs"));
    }

    FileFacet files() {
        return driver.files().orElseThrow(() -> SandboxDriver.unsupported(driver.name(), "read or write VM files"));
    }

    SnapshotFacet snapshots() {
        return driver.snapshots().orElseThrow(
                () -> BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "the " + driver.name() + " driver cannot snapshot disks"));
    }

    ResourceFacet resources() {
        return driver.resources().orElseThrow(() -> SandboxDriver.unsupported(driver.name(), "change cpu or memory limits"));
    }

    DiskQuotaFacet diskQuota() {
        return driver.diskQuota().orElseThrow(() -> BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "the " + driver.name() + " driver has no disk quota on this host"));
    }

    // ---- locks ----

    /** The lock of a VM (or a snapshot: ids never collide), waiting at most the configured lock wait. */
    KeyedLocks.Held lock(String key, String what) {
        return locks.acquire(key, settings.lockWait(), what);
    }

    /** The lock if nobody holds it right now; empty while an operation of this process is in flight. */
    Optional<KeyedLocks.Held> tryLock(String key) {
        return locks.tryAcquire(key);
    }

    // ---- admission and listeners ----

    VmAdmission admission() {
        return admission;
    }

    /** Loads the node's VMs into the ledger, then admits against it from now on. */
    void setAdmission(VmAdmission next, String nodeId) {
        next.load(store.list(VmQuery.all().withNode(nodeId)));
        this.admission = next;
    }

    void addListener(TransitionListener listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    // ---- reads ----

    /** The VM, if it is not deleted: a malformed id is a 400, an unknown or deleted VM a 404. */
    Vm get(String id) {
        if (!VmId.valid(id)) {
            throw new BurrowException(ErrorCode.INVALID_VM_ID, "invalid VM id '" + abbreviate(id) + "': VM ids are 20 lowercase letters and digits");
        }
        Optional<Vm> vm = store.find(id);
        if (vm.isEmpty() || vm.get().status() == VmStatus.DELETED) {
            throw BurrowException.of(ErrorCode.VM_NOT_FOUND, "VM not found: " + id);
        }
        return vm.get();
    }

    // ---- writes ----

    /**
     * Inserts a new VM's first row (its intent, {@code creating} or {@code pulling}) and tells the listeners. False
     * when the idempotency key was taken by a concurrent request meanwhile (nothing written). The caller reserved
     * the VM's place in the admission ledger before; {@link #write} keeps it in step from here on.
     */
    boolean insert(Vm vm, VmEvent event, VmStore.IdempotencyKey key) {
        if (!store.insert(vm, event, key)) return false;
        notifyListeners(store.find(vm.id()).orElseThrow(), null, event.op(), event.cause(), null, null);
        return true;
    }

    /**
     * One transition with a driver call: the intent written, the driver called, the outcome written. When the driver
     * fails, the outcome is what the host really holds ({@link #settle}) and the failure is rethrown.
     */
    Vm transition(Vm vm, String op, VmStatus intent, VmStatus success, String cause, Runnable driverCall) {
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
    VmStatus settle(String id) {
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

    /**
     * Writes {@code next} (or the same status with a new spec: an event without a status change) with its event in
     * one transaction, then feeds the admission ledger and the listeners. The transition table is checked: a
     * forbidden move is a bug, not a user error.
     */
    Vm write(Vm vm, VmStatus next, String reason, String op, String cause, Long durationMs) {
        if (next != vm.status() && !vm.status().canMoveTo(next)) {
            throw new IllegalStateException("transition table forbids " + vm.status() + " -> " + next + " for " + vm.id());
        }
        Instant now = clock.instant();
        VmEvent event = VmEvent.of(vm.id(), now, vm.status(), next, op, cause, reason, durationMs);
        Vm updated = store.update(vm.withStatus(next, reason, now), event)
                .orElseThrow(() -> new BurrowException(ErrorCode.VM_OPERATION_DENIED_DURING_TRANSACTION, "VM " + vm.id() + " was changed concurrently; retry"));
        // not a listener: the ledger must follow every write, whatever listeners do
        admission.transitioned(updated, vm.status(), op, cause, durationMs, reason);
        // the structured line per transition is written by a TransitionListener (it knows the VM type)
        notifyListeners(updated, vm.status(), op, cause, durationMs, reason);
        return updated;
    }

    /** A create refused before its VM existed (its image could not be fetched): no transition reports it. */
    void createRejected(VmSpec spec, String cause, String reason) {
        for (TransitionListener l : listeners) {
            try {
                l.createRejected(spec, cause, reason);
            } catch (RuntimeException e) {
                log.warn("create-rejected listener failed: {}", e.toString());
            }
        }
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

    // ---- shared checks ----

    static BurrowException invalid(Vm vm, String op) {
        return new BurrowException(ErrorCode.INVALID_STATE_TRANSITION, "cannot " + op + " VM " + vm.id() + ": it is " + vm.status().dbName());
    }

    static long elapsed(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }

    static String abbreviate(String s) {
        if (s == null) return "";
        return s.length() > 40 ? s.substring(0, 40) + "…" : s;
    }
}
