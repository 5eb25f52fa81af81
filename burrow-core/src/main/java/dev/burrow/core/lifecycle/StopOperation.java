package dev.burrow.core.lifecycle;

import java.time.Duration;

import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/** Stop (the VM's processes ended within a grace period) and kill (without one); the disk is kept. */
final class StopOperation {
    private final Transitions t;
    private final DeleteOperation delete;

    StopOperation(Transitions t, DeleteOperation delete) {
        this.t = t;
        this.delete = delete;
    }

    Vm stop(String id, String cause) {
        return stop(id, cause, "stop", t.settings().stopGrace());
    }

    Vm kill(String id, String cause) {
        return stop(id, cause, "kill", Duration.ZERO);
    }

    private Vm stop(String id, String cause, String op, Duration grace) {
        try (var held = t.lock(id, op)) {
            Vm vm = t.get(id);
            if (vm.status() == VmStatus.STOPPED) return vm;
            if (vm.status() != VmStatus.RUNNING && vm.status() != VmStatus.SUSPENDED) throw Transitions.invalid(vm, op);
            Vm stopped = t.transition(vm, op, VmStatus.STOPPING, VmStatus.STOPPED, cause, () -> t.driver().stop(id, grace));
            return delete.deleteIfEphemeral(stopped, Persistence.DeleteEvent.ON_STOP, cause);
        }
    }
}
