package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;

/**
 * Keeps the disk the VMs and snapshots use under a quota. First sticky VMs that are not running go: lowest
 * persistence priority first, then least recently used. Then, if still over, sticky snapshots no VM was made from
 * (a VM made from a snapshot may share its data, so a snapshot in use is never evicted): lowest priority first,
 * then least recently used (the last create from it, or its creation), none made or used within {@link #SNAPSHOT_GRACE}.
 * Persistent VMs and snapshots are never
 * evicted, and a running VM is never taken from under its user. VMs go before snapshots because a snapshot is what
 * makes the next VM cheap (a template build's cache) while a stopped sticky VM is already a leftover.
 */
public final class StorageEvictor extends FixedIntervalLoop {
    private static final Logger log = LoggerFactory.getLogger(StorageEvictor.class);

    private final VmStore store;
    private final LifecycleCoordinator lifecycle;
    private final long quotaBytes;
    private final SnapshotStore snapshots;
    /**
     * A snapshot made or used this recently is not evicted: a template build hands its new snapshot to the create
     * waiting for it (and `snapshots.ensure` to the client's next call), which must not find it gone.
     */
    public static final java.time.Duration SNAPSHOT_GRACE = java.time.Duration.ofMinutes(10);

    public StorageEvictor(VmStore store, LifecycleCoordinator lifecycle, Duration interval, long quotaBytes) {
        this(store, null, lifecycle, interval, quotaBytes);
    }

    /** With {@code snapshots} null only VMs are counted and evicted. */
    public StorageEvictor(VmStore store, SnapshotStore snapshots, LifecycleCoordinator lifecycle,
                          Duration interval, long quotaBytes) {
        super("storage-evictor", interval);
        this.snapshots = snapshots;
        this.store = store;
        this.lifecycle = lifecycle;
        this.quotaBytes = quotaBytes;
    }

    /** A sticky VM that is not running: its disk is a leftover. */
    private static boolean evictable(Vm vm) {
        return vm.spec().persistence().type() == Persistence.Type.STICKY && switch (vm.status()) {
            case STOPPED, SUSPENDED, HIBERNATED, FAILED -> true;
            default -> false;
        };
    }

    @Override
    public void runOnce(Instant now) {
        if (quotaBytes <= 0) return;
        Map<String, Long> usage = new HashMap<>();
        long total = 0;
        List<Vm> candidates = new ArrayList<>();
        for (Vm vm : store.everyVm(lifecycle.nodeId())) {
            long bytes = lifecycle.diskUsageBytes(vm.id());
            if (bytes > 0) {
                usage.put(vm.id(), bytes);
                total += bytes;
            }
            if (evictable(vm)) candidates.add(vm);
        }
        List<Snapshot> snaps = snapshots == null || !lifecycle.capabilities().diskSnapshots() ? List.of()
                : snapshots.listSnapshots().stream().filter(s -> !s.failed()).toList();
        Map<String, Long> snapUsage = new HashMap<>();
        for (Snapshot s : snaps) {
            long bytes = lifecycle.snapshotUsageBytes(s.id());
            if (bytes > 0) {
                snapUsage.put(s.id(), bytes);
                total += bytes;
            }
        }
        if (total <= quotaBytes) return;
        candidates.sort(Comparator.<Vm>comparingInt(vm -> vm.spec().persistence().priority())
                .thenComparing(Vm::lastActivityAt));
        for (Vm vm : candidates) {
            if (total <= quotaBytes) break;
            try {
                lifecycle.delete(vm.id(), "eviction");
                long freed = usage.getOrDefault(vm.id(), 0L);
                total -= freed;
                log.warn("vm_id={} op=evict priority={} freed_bytes={} storage over quota ({} > {} bytes)", vm.id(),
                        vm.spec().persistence().priority(), freed, total + freed, quotaBytes);
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=evict failed: {}", vm.id(), e.getMessage());
            }
        }
        if (total <= quotaBytes) return;
        Instant graceStart = now.minus(SNAPSHOT_GRACE);
        List<Snapshot> snapCandidates = new ArrayList<>(snaps.stream()
                .filter(s -> s.persistence().type() == Persistence.Type.STICKY)
                .filter(s -> (s.lastUsedAt() != null ? s.lastUsedAt() : s.createdAt()).isBefore(graceStart)).toList());
        snapCandidates.sort(Comparator.<Snapshot>comparingInt(s -> s.persistence().priority())
                .thenComparing(Snapshot::lastUsedAt).thenComparing(Snapshot::createdAt));
        for (Snapshot s : snapCandidates) {
            if (total <= quotaBytes) break;
            // checked again under the snapshot's lock by deleteSnapshot (SNAPSHOT_IN_USE), so a create racing
            // with the eviction either sees no snapshot or keeps it
            if (lifecycle.snapshotInUse(s.id())) continue;
            try {
                lifecycle.deleteSnapshot(s.id(), "eviction");
                long freed = snapUsage.getOrDefault(s.id(), 0L);
                total -= freed;
                log.warn("snapshot_id={} op=evict priority={} freed_bytes={} storage over quota ({} > {} bytes)", s.id(),
                        s.persistence().priority(), freed, total + freed, quotaBytes);
            } catch (RuntimeException e) {
                log.warn("snapshot_id={} op=evict failed: {}", s.id(), e.getMessage());
            }
        }
    }

}
