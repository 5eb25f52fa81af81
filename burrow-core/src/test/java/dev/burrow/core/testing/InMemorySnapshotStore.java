package dev.burrow.core.testing;

import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.vm.Snapshot;

/** A SnapshotStore for coordinator unit tests. */
public final class InMemorySnapshotStore implements SnapshotStore {
    private final Map<String, Snapshot> rows = new ConcurrentHashMap<>();

    @Override
    public void insertSnapshot(Snapshot snapshot) {
        if (rows.putIfAbsent(snapshot.id(), snapshot) != null) throw new IllegalStateException("duplicate " + snapshot.id());
    }

    @Override
    public Optional<Snapshot> findSnapshot(String id) {
        return Optional.ofNullable(rows.get(id));
    }

    @Override
    public List<Snapshot> listSnapshots() {
        return rows.values().stream().sorted(Comparator.comparing(Snapshot::createdAt).reversed()).toList();
    }

    @Override
    public boolean deleteSnapshot(String id) {
        return rows.remove(id) != null;
    }

    @Override
    public boolean updateSnapshot(Snapshot snapshot) {
        return rows.computeIfPresent(snapshot.id(), (k, old) -> old.withName(snapshot.name())
                .withPersistence(snapshot.persistence())) != null;
    }

    @Override
    public boolean touchSnapshot(String id, Instant at) {
        return rows.computeIfPresent(id, (k, s) -> new Snapshot(s.id(), s.name(), s.sourceVmId(), s.image(), s.sourceSpec(),
                s.createdAt(), s.persistence(), at, s.templateHash(), s.failureReason(), s.user())) != null;
    }
}
