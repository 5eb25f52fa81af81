package dev.burrow.core.lifecycle;

import dev.burrow.core.fault.Failpoints;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Delete: everything the VM holds on the host released, the row kept as a {@code deleted} tombstone. Allowed from
 * every status, a transitional one left by a crash included: deleting must always be possible.
 */
final class DeleteOperation {
    private final Transitions t;

    DeleteOperation(Transitions t) {
        this.t = t;
    }

    Vm delete(String id, String cause) {
        try (var held = t.lock(id, "delete")) {
            return deleteLocked(t.get(id), cause);
        }
    }

    /** Deletes a VM whose lock the caller holds (a delete left half done by a crash is completed). */
    Vm deleteLocked(Vm vm, String cause) {
        String id = vm.id();
        Vm intent = vm.status() == VmStatus.DELETING ? vm : t.write(vm, VmStatus.DELETING, null, "delete", cause, null);
        Failpoints.hit("delete.after-intent");
        long t0 = System.nanoTime();
        try {
            t.driver().destroy(id);
        } catch (RuntimeException e) {
            t.write(intent, VmStatus.FAILED, "delete failed: " + BurrowException.clientMessage(e), "delete", cause,
                    Transitions.elapsed(t0));
            throw e;
        }
        Failpoints.hit("delete.after-driver");
        return t.write(intent, VmStatus.DELETED, null, "delete", cause, Transitions.elapsed(t0));
    }

    /** An ephemeral VM whose delete event this is goes away right after (its lock is held by the caller). */
    Vm deleteIfEphemeral(Vm vm, Persistence.DeleteEvent event, String cause) {
        Persistence p = vm.spec().persistence();
        if (p.type() != Persistence.Type.EPHEMERAL || p.deleteEvent() != event) return vm;
        return deleteLocked(vm, cause + "+ephemeral");
    }
}
