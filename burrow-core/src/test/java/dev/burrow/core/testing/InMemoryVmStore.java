package dev.burrow.core.testing;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmStatus;

/**
 * A VmStore for unit tests and the HTTP test harness, with the same contract as the SQL one (optimistic versions,
 * idempotency keys claimed with their VM, activity that only moves forward): {@code VmStoreContract} runs on both.
 */
public final class InMemoryVmStore implements VmStore {
    private final Map<String, Vm> vms = new ConcurrentHashMap<>();
    public final List<VmEvent> events = java.util.Collections.synchronizedList(new ArrayList<>());

    private final Map<String, IdempotencyKey> keys = new ConcurrentHashMap<>();

    @Override
    public synchronized boolean insert(Vm vm, VmEvent event, IdempotencyKey key) {
        if (key != null && keys.putIfAbsent(key.key(), key) != null) return false;
        if (vms.putIfAbsent(vm.id(), withVersion(vm, 1)) != null) throw new IllegalStateException("duplicate " + vm.id());
        events.add(event);
        return true;
    }

    @Override
    public Optional<IdempotencyKey> findIdempotencyKey(String key) {
        return Optional.ofNullable(keys.get(key));
    }

    @Override
    public synchronized Optional<Vm> update(Vm vm, VmEvent event) {
        Vm cur = vms.get(vm.id());
        if (cur == null || cur.version() != vm.version()) return Optional.empty();
        Vm next = withVersion(vm, vm.version() + 1);
        vms.put(vm.id(), next);
        events.add(event);
        return Optional.of(next);
    }

    @Override public Optional<Vm> find(String id) { return Optional.ofNullable(vms.get(id)); }

    @Override
    public List<Vm> list(VmQuery q) {
        return vms.values().stream().filter(q::matches)
                .sorted(Comparator.comparing(Vm::createdAt).reversed().thenComparing(Vm::id))
                .skip(q.offset()).limit(q.limited() ? q.limit() : Long.MAX_VALUE).toList();
    }

    @Override
    public List<Vm> pageById(String node, String afterId, int limit) {
        return vms.values().stream().filter(v -> v.status() != VmStatus.DELETED)
                .filter(v -> node == null || node.equals(v.node()))
                .filter(v -> afterId == null || v.id().compareTo(afterId) > 0)
                .sorted(Comparator.comparing(Vm::id)).limit(limit).toList();
    }

    @Override
    public Map<VmStatus, Long> countByStatus(boolean includeDeleted) {
        Map<VmStatus, Long> counts = new java.util.EnumMap<>(VmStatus.class);
        for (Vm v : vms.values()) {
            if (includeDeleted || v.status() != VmStatus.DELETED) counts.merge(v.status(), 1L, Long::sum);
        }
        return counts;
    }

    @Override
    public synchronized void touch(String id, Instant at) {
        Vm v = vms.get(id);
        if (v != null && v.lastActivityAt().isBefore(at)) {
            vms.put(id, new Vm(v.id(), v.spec(), v.status(), v.statusReason(), v.createdAt(), v.updatedAt(), at,
                    v.node(), v.driver(), v.driverHandle(), v.version(), v.lastNetworkActivityAt()));
        }
    }

    @Override
    public synchronized void touchNetwork(String id, Instant at) {
        touch(id, at);
        Vm v = vms.get(id);
        if (v != null && (v.lastNetworkActivityAt() == null || v.lastNetworkActivityAt().isBefore(at))) {
            vms.put(id, new Vm(v.id(), v.spec(), v.status(), v.statusReason(), v.createdAt(), v.updatedAt(),
                    v.lastActivityAt(), v.node(), v.driver(), v.driverHandle(), v.version(), at));
        }
    }

    @Override
    public List<VmEvent> events(String vmId, int limit) {
        // the newest {@code limit}, oldest first
        List<VmEvent> mine;
        synchronized (events) {
            mine = events.stream().filter(e -> e.vmId().equals(vmId)).toList();
        }
        return mine.subList(Math.max(0, mine.size() - limit), mine.size());
    }

    private static Vm withVersion(Vm v, long version) {
        return new Vm(v.id(), v.spec(), v.status(), v.statusReason(), v.createdAt(), v.updatedAt(), v.lastActivityAt(),
                v.node(), v.driver(), v.driverHandle(), version, v.lastNetworkActivityAt());
    }
}
