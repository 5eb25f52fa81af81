package dev.burrow.core.store;

import java.util.List;
import java.util.Optional;

import dev.burrow.core.vm.Snapshot;

/**
 * Snapshots the store knows. A row exists only once the driver has made the snapshot, so whatever is listed can
 * be created from; a driver snapshot without a row (a crash in between) is an orphan the reconciler removes.
 */
public interface SnapshotStore {
    // Method names carry "Snapshot": one class may implement this and VmStore (whose find/insert take the same
    // parameter types).
    void insertSnapshot(Snapshot snapshot);

    Optional<Snapshot> findSnapshot(String id);

    /** Newest first. */
    List<Snapshot> listSnapshots();

    /** Removes the row; false when there was none. */
    boolean deleteSnapshot(String id);
}
