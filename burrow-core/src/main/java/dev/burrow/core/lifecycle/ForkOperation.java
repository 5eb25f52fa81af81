package dev.burrow.core.lifecycle;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;

/**
 * Fork: one snapshot of the source and {@code count} ordinary creates from it, so admission control and failure
 * cleanup apply to each. All or nothing: when one create fails, the forks already made are deleted.
 */
final class ForkOperation {
    private static final Logger log = LoggerFactory.getLogger(ForkOperation.class);

    private final Transitions t;
    private final SnapshotOperation snapshots;
    private final CreateOperation create;
    private final DeleteOperation delete;

    ForkOperation(Transitions t, SnapshotOperation snapshots, CreateOperation create, DeleteOperation delete) {
        this.t = t;
        this.snapshots = snapshots;
        this.create = create;
        this.delete = delete;
    }

    LifecycleCoordinator.Fork fork(String vmId, int count, String cause) {
        if (count < 1 || count > LifecycleCoordinator.MAX_FORKS) {
            throw BurrowException.of(ErrorCode.FORK_VM_BAD_REQUEST, "'count' must be between 1 and "
                    + LifecycleCoordinator.MAX_FORKS + ", got " + count);
        }
        // refused before the snapshot is taken when the forks cannot fit (each create still reserves its own place)
        t.admission().check(count, t.get(vmId).spec());
        Snapshot snap = snapshots.snapshot(vmId, null, Persistence.DEFAULT, null, null, null, cause);
        var s = snap.sourceSpec();
        var forkSpec = new VmSpec(null, s.vcpuCount(), s.memSizeMb(), s.env(), s.workdir(),
                s.idleTimeoutSeconds(), s.persistence(), s.labels(), s.rootfsSizeMb(), snap.id(), s.services(), s.network(),
                s.ports());
        List<Vm> made = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                made.add(create.create(new CreateVmCommand(forkSpec, Map.of()), cause, null, null));
            }
        } catch (RuntimeException e) {
            for (Vm f : made) {
                try {
                    delete.delete(f.id(), cause);
                } catch (RuntimeException cleanup) {
                    log.error("vm_id={} op=fork cleanup of a fork after a failed fork also failed: {}", f.id(),
                            cleanup.getMessage());
                }
            }
            throw e;
        }
        return new LifecycleCoordinator.Fork(snap, List.copyOf(made));
    }
}
