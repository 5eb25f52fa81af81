package dev.burrow.core.lifecycle;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.function.Predicate;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.internal.KeyedLocks;
import dev.burrow.core.lifecycle.LifecycleCoordinator.ReconcileAction;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Reconciliation (called by the reconciler and the timeout sweeper, never by HTTP): a VM's stored status brought in
 * line with the host, host resources without a live VM destroyed, VMs stuck in an intent expired.
 */
final class Reconciliation {
    private static final Logger log = LoggerFactory.getLogger(Reconciliation.class);

    private final Transitions t;
    private final DeleteOperation delete;
    /** Whether a VM in status pulling waits for its image in this process (it is busy, not stale). */
    private final Predicate<String> pullingNow;
    private final SandboxDriver driver;
    private final VmStore store;

    Reconciliation(Transitions t, DeleteOperation delete, Predicate<String> pullingNow) {
        this.t = t;
        this.delete = delete;
        this.pullingNow = pullingNow;
        this.driver = t.driver();
        this.store = t.store();
    }

    /**
     * Skips a VM whose lock is held: an operation is in flight in this process, so its intent is not stale. Intents
     * found unlocked were left by a crash: a create is rolled back, a delete completed, anything else settles on what
     * the host holds. A stable status the host contradicts is corrected, with a reason that tells a crash from a
     * deliberate suspend.
     */
    ReconcileAction reconcile(String id, String cause) {
        Optional<KeyedLocks.Held> held = t.tryLock(id);
        if (held.isEmpty()) return ReconcileAction.BUSY;
        try (var h = held.get()) {
            Vm vm = store.find(id).orElse(null);
            if (vm == null || vm.status() == VmStatus.DELETED) return ReconcileAction.NONE;
            switch (vm.status()) {
                case PULLING -> {
                    if (pullingNow.test(id)) return ReconcileAction.BUSY;
                    // No host resource exists while a VM pulls; destroy anyway, it is idempotent and cheap.
                    driver.destroy(id);
                    t.write(vm, VmStatus.DELETED, "create interrupted while pulling its image (server stopped); rolled back",
                            "create", cause, null);
                    return ReconcileAction.ROLLED_BACK_CREATE;
                }
                case CREATING -> {
                    long t0 = System.nanoTime();
                    driver.destroy(id);
                    t.write(vm, VmStatus.DELETED, "create interrupted (server stopped mid-create); rolled back", "create",
                            cause, Transitions.elapsed(t0));
                    return ReconcileAction.ROLLED_BACK_CREATE;
                }
                case DELETING -> {
                    delete.deleteLocked(vm, cause);
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
                t.write(vm, to, vm.status().dbName() + " interrupted; settled on the host's state ("
                        + host.name().toLowerCase() + ")", "reconcile", cause, null);
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
                t.write(vm, VmStatus.FAILED, "host resources missing: the VM's disk and container are gone", "reconcile",
                        cause, null);
                return ReconcileAction.MISSING;
            }
            if (observed == VmStatus.STOPPED && (expected == VmStatus.RUNNING || expected == VmStatus.SUSPENDED)) {
                t.write(vm, VmStatus.STOPPED, "crashed: the VM's processes exited without a stop request (was "
                        + expected.dbName() + ")", "reconcile", cause, null);
                return ReconcileAction.CRASHED;
            }
            t.write(vm, observed, "observed " + observed.dbName() + " on the host (was " + expected.dbName() + ")",
                    "reconcile", cause, null);
            return ReconcileAction.OBSERVED;
        }
    }

    /** Destroys host resources of a VM the store does not hold alive; refuses while it is locked or alive. */
    boolean destroyOrphan(String vmId, String cause) {
        Optional<KeyedLocks.Held> held = t.tryLock(vmId);
        if (held.isEmpty()) return false;
        try (var h = held.get()) {
            Optional<Vm> vm = store.find(vmId);
            if (vm.isPresent() && vm.get().status() != VmStatus.DELETED) return false;
            driver.destroy(vmId);
            log.warn("vm_id={} op=destroy-orphan cause={} host resources without a live VM destroyed", vmId, cause);
            return true;
        }
    }

    /** A VM stuck in a transitional status for longer than {@code limit} (and not locked): reconciled. */
    ReconcileAction expireStuck(String id, Instant now, Duration limit, String cause) {
        Optional<Vm> vm = store.find(id);
        if (vm.isEmpty() || !vm.get().status().transitional()) return ReconcileAction.NONE;
        if (vm.get().updatedAt().plus(limit).isAfter(now)) return ReconcileAction.NONE;
        return reconcile(id, cause);
    }
}
