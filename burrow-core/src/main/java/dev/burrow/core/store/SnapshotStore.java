package dev.burrow.core.store;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

import dev.burrow.core.vm.Snapshot;

/**
 * Snapshots the store knows. A row exists only once the driver has made the snapshot, so whatever is listed can
 * be created from; a driver snapshot without a row (a crash in between) is an orphan the reconciler removes. The
 * one exception are failed template builds ({@link Snapshot#failed()}): recorded so the list shows them, with no
 * disk behind them, and never created from.
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

    /** Rewrites the name and persistence of an existing row; false when there is none. */
    boolean updateSnapshot(Snapshot snapshot);

    /** Records that a VM was made from the snapshot now (its LRU position); false when there is no such row. */
    boolean touchSnapshot(String id, Instant at);

    /** The newest snapshot that is not failed with this template hash (the template build cache). */
    default Optional<Snapshot> findSnapshotByTemplate(String templateHash) {
        return listSnapshots().stream().filter(s -> templateHash.equals(s.templateHash()) && !s.failed()).findFirst();
    }
}
