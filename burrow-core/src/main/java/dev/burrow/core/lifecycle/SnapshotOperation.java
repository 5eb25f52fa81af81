package dev.burrow.core.lifecycle;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.fault.Failpoints;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.internal.KeyedLocks;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;

/**
 * Snapshots: made from a VM's disk, queried, updated, deleted (refused while a VM made from one is alive), and the
 * orphans a crash leaves removed. A snapshot's lock is taken under its own id in the same lock table as the VMs'.
 */
final class SnapshotOperation {
    private static final Logger log = LoggerFactory.getLogger(SnapshotOperation.class);

    private final Transitions t;
    private final SnapshotStore snapshots;
    private final SandboxDriver driver;
    private final VmStore store;

    SnapshotOperation(Transitions t, SnapshotStore snapshots) {
        this.t = t;
        this.snapshots = snapshots;
        this.driver = t.driver();
        this.store = t.store();
    }

    /**
     * The driver snapshot is made first and the row written after, so a listed snapshot always exists on the host; a
     * crash in between leaves a driver snapshot without a row, which {@link #destroyOrphanSnapshot} removes. The VM
     * keeps its status (the driver freezes a running VM for the moment the copy takes).
     */
    Snapshot snapshot(String vmId, String name, Persistence persistence, String templateHash, String user,
                      VmSpec recorded, String cause) {
        requireSnapshots();
        if (persistence != null && persistence.type() == Persistence.Type.EPHEMERAL) {
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "a snapshot's persistence must be sticky or persistent");
        }
        try (var held = t.lock(vmId, "snapshot")) {
            Vm vm = t.get(vmId);
            switch (vm.status()) {
                case RUNNING, SUSPENDED, STOPPED, HIBERNATED -> { }
                default -> throw Transitions.invalid(vm, "snapshot");
            }
            String snapshotId = Snapshot.generateId();
            // the snapshot's own lock too: the reconciler must not take the fresh driver snapshot for an orphan
            // before its row is written
            try (var snapHeld = t.lock(snapshotId, "snapshot")) {
                Failpoints.hit("snapshot.after-intent");
                long t0 = System.nanoTime();
                t.snapshots().snapshot(vmId, snapshotId);
                Failpoints.hit("snapshot.after-driver");
                String defaultUser = user;
                if (defaultUser == null && vm.spec().snapshotId() != null) {
                    defaultUser = snapshots.findSnapshot(vm.spec().snapshotId()).map(Snapshot::user).orElse(null);
                }
                Instant at = t.clock().instant();
                Snapshot snap = new Snapshot(snapshotId, name, vmId, vm.spec().image(), recorded != null ? recorded : vm.spec(),
                        at, persistence, at, templateHash, null, defaultUser);
                try {
                    snapshots.insertSnapshot(snap);
                } catch (RuntimeException e) {
                    deleteDriverSnapshotQuietly(snapshotId);
                    throw e;
                }
                // an event without a status change, so the VM's history shows the snapshot and who asked
                t.write(vm, vm.status(), vm.statusReason(), "snapshot", cause, Transitions.elapsed(t0));
                log.info("vm_id={} snapshot_id={} op=snapshot cause={} duration_ms={}", vmId, snapshotId, cause,
                        Transitions.elapsed(t0));
                return snap;
            }
        }
    }

    Snapshot updateSnapshot(String snapshotId, UnaryOperator<Snapshot> change, String cause) {
        try (var held = t.lock(snapshotId, "update snapshot")) {
            Snapshot before = findSnapshot(snapshotId);
            Snapshot after = change.apply(before);
            if (after.persistence().type() == Persistence.Type.EPHEMERAL) {
                throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "a snapshot's persistence must be sticky or persistent");
            }
            if (!snapshots.updateSnapshot(after)) {
                throw BurrowException.of(ErrorCode.SNAPSHOT_NOT_FOUND, "snapshot not found: " + snapshotId);
            }
            log.info("snapshot_id={} op=update-snapshot cause={} persistence={} priority={}", snapshotId, cause,
                    after.persistence().wireType(), after.persistence().priority());
            return snapshots.findSnapshot(snapshotId).orElse(after);
        }
    }

    /** A failed template build: a row without a disk, listed with its reason, never created from. */
    Snapshot recordFailedSnapshot(String name, String sourceVmId, VmSpec spec, Persistence persistence,
                                  String templateHash, String reason) {
        requireSnapshots();
        Instant at = t.clock().instant();
        Snapshot snap = new Snapshot(Snapshot.generateId(), name, sourceVmId == null ? "" : sourceVmId,
                spec.image() == null ? "" : spec.image(), spec, at, persistence, at, templateHash,
                reason == null || reason.isBlank() ? "build failed" : reason, null);
        snapshots.insertSnapshot(snap);
        return snap;
    }

    Optional<Snapshot> findSnapshotByTemplate(String templateHash) {
        requireSnapshots();
        return snapshots.findSnapshotByTemplate(templateHash);
    }

    void touchSnapshot(String snapshotId) {
        snapshots.touchSnapshot(snapshotId, t.clock().instant());
    }

    boolean snapshotInUse(String snapshotId) {
        for (Vm vm : store.everyVm()) {
            if (snapshotId.equals(vm.spec().snapshotId())) return true;
        }
        return false;
    }

    List<Snapshot> listSnapshots() {
        requireSnapshots();
        return snapshots.listSnapshots();
    }

    Snapshot findSnapshot(String snapshotId) {
        requireSnapshots();
        if (!Snapshot.validId(snapshotId)) {
            throw BurrowException.of(ErrorCode.INVALID_SNAPSHOT_ID, "invalid snapshot id '" + Transitions.abbreviate(snapshotId)
                    + "': snapshot ids are 'sc-' and 20 lowercase letters and digits");
        }
        return snapshots.findSnapshot(snapshotId)
                .orElseThrow(() -> BurrowException.of(ErrorCode.SNAPSHOT_NOT_FOUND, "snapshot not found: " + snapshotId));
    }

    /**
     * Refused while a VM made from the snapshot is alive. The row goes first: a crash before the driver call leaves
     * an orphan the reconciler removes, never a listed snapshot that is gone.
     */
    void deleteSnapshot(String snapshotId, String cause) {
        try (var held = t.lock(snapshotId, "delete snapshot")) {
            findSnapshot(snapshotId);
            List<String> users = new ArrayList<>();
            for (Vm vm : store.everyVm()) {
                if (snapshotId.equals(vm.spec().snapshotId())) users.add(vm.id());
            }
            if (!users.isEmpty()) {
                throw BurrowException.of(ErrorCode.SNAPSHOT_IN_USE, "snapshot " + snapshotId + " is in use by "
                        + users.size() + " VM(s) (" + String.join(", ", users.subList(0, Math.min(5, users.size())))
                        + (users.size() > 5 ? ", …" : "") + "); delete them first");
            }
            snapshots.deleteSnapshot(snapshotId);
            try {
                t.snapshots().deleteSnapshot(snapshotId);
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

    /** A driver snapshot without a store row deleted; refused while an operation holds the snapshot's lock. */
    boolean destroyOrphanSnapshot(String snapshotId, String cause) {
        if (!Snapshot.validId(snapshotId)) return false;
        Optional<KeyedLocks.Held> held = t.tryLock(snapshotId);
        if (held.isEmpty()) return false;
        try (var h = held.get()) {
            if (snapshots.findSnapshot(snapshotId).isPresent()) return false;
            t.snapshots().deleteSnapshot(snapshotId);
            log.warn("snapshot_id={} op=destroy-orphan-snapshot cause={} driver snapshot without a store row deleted",
                    snapshotId, cause);
            return true;
        }
    }

    private void requireSnapshots() {
        t.snapshots();
    }

    private void deleteDriverSnapshotQuietly(String snapshotId) {
        try {
            t.snapshots().deleteSnapshot(snapshotId);
        } catch (RuntimeException e) {
            log.error("snapshot_id={} op=snapshot cleanup after a failed row insert also failed (the reconciler retries): {}",
                    snapshotId, e.getMessage());
        }
    }
}
