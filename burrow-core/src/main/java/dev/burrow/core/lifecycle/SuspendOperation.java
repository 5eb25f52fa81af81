package dev.burrow.core.lifecycle;

import java.time.Duration;

import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/** Suspend (processes frozen, memory kept) and hibernate (a long-suspended VM's processes ended, its disk kept). */
final class SuspendOperation {
    private final Transitions t;
    private final DeleteOperation delete;

    SuspendOperation(Transitions t, DeleteOperation delete) {
        this.t = t;
        this.delete = delete;
    }

    Vm suspend(String id, String cause) {
        try (var held = t.lock(id, "suspend")) {
            Vm vm = t.get(id);
            if (vm.status() == VmStatus.SUSPENDED) return vm;
            if (vm.status() != VmStatus.RUNNING) throw Transitions.invalid(vm, "suspend");
            Vm suspended = t.transition(vm, "suspend", VmStatus.SUSPENDING, VmStatus.SUSPENDED, cause,
                    () -> t.driver().suspend(id));
            return delete.deleteIfEphemeral(suspended, Persistence.DeleteEvent.ON_SUSPEND, cause);
        }
    }

    /** Tears down the processes of a VM that stayed suspended for long; the next access starts it again. */
    Vm hibernate(String id, String cause) {
        try (var held = t.lock(id, "hibernate")) {
            Vm vm = t.get(id);
            if (vm.status() == VmStatus.HIBERNATED) return vm;
            if (vm.status() != VmStatus.SUSPENDED) throw Transitions.invalid(vm, "hibernate");
            return t.transition(vm, "hibernate", VmStatus.HIBERNATING, VmStatus.HIBERNATED, cause,
                    () -> t.driver().stop(id, Duration.ZERO));
        }
    }
}
