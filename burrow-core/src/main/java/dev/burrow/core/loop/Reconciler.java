package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.HostResource;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.lifecycle.LifecycleCoordinator.ReconcileAction;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Compares what the host holds ({@link LifecycleCoordinator#hostResources()}) with the store. VMs the store has are
 * reconciled one by one through the coordinator (stale intents finished or rolled back, crashes told apart
 * from deliberate suspends); host resources labelled with a VM id the store does not hold alive are
 * orphans, destroyed once they have been seen for longer than the grace period (a create in flight in
 * another process has a row first, so it is never mistaken for one).
 */
public final class Reconciler extends FixedIntervalLoop {
    private static final Logger log = LoggerFactory.getLogger(Reconciler.class);

    /** Counts what a pass did, by kind (metrics). */
    @FunctionalInterface
    public interface ActionListener {
        ActionListener NONE = (kind, vmId) -> { };

        void action(String kind, String vmId);
    }

    private final VmStore store;
    private final LifecycleCoordinator lifecycle;
    private final Duration orphanGrace;
    private final ActionListener listener;
    private final Map<String, Instant> orphansFirstSeen = new ConcurrentHashMap<>();

    public Reconciler(VmStore store, LifecycleCoordinator lifecycle, Duration interval,
                      Duration orphanGrace, ActionListener listener) {
        super("reconciler", interval);
        this.store = store;
        this.lifecycle = lifecycle;
        this.orphanGrace = orphanGrace;
        this.listener = listener;
    }

    @Override
    public void runOnce(Instant now) {
        for (Vm vm : store.everyVm(lifecycle.nodeId())) {
            try {
                ReconcileAction a = lifecycle.reconcile(vm.id(), "reconciler");
                if (a != ReconcileAction.NONE && a != ReconcileAction.BUSY) listener.action(a.name().toLowerCase(), vm.id());
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=reconcile failed: {}", vm.id(), e.getMessage());
                listener.action("error", vm.id());
            }
        }
        Set<String> hostVms = new HashSet<>();
        Map<String, String> example = new HashMap<>();
        for (HostResource r : lifecycle.hostResources()) {
            if (r.kind() == HostResource.Kind.SNAPSHOT) {
                // labelled with a snapshot id, not a VM's. No grace period: a snapshot in flight holds its lock
                // in the coordinator until its row is written, and the coordinator checks both.
                destroyIfOrphanSnapshot(r.vmId());
                continue;
            }
            hostVms.add(r.vmId());
            example.putIfAbsent(r.vmId(), r.kind() + " " + r.name());
        }
        orphansFirstSeen.keySet().retainAll(hostVms);
        for (String vmId : hostVms) {
            var vm = store.find(vmId);
            if (vm.isPresent() && vm.get().status() != VmStatus.DELETED) {
                orphansFirstSeen.remove(vmId);
                continue;
            }
            Instant first = orphansFirstSeen.computeIfAbsent(vmId, k -> now);
            if (first.plus(orphanGrace).isAfter(now)) continue;
            try {
                if (lifecycle.destroyOrphan(vmId, "reconciler")) {
                    orphansFirstSeen.remove(vmId);
                    listener.action("orphan_destroyed", vmId);
                    log.warn("vm_id={} op=reconcile orphan destroyed (e.g. {})", vmId, example.get(vmId));
                }
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=reconcile orphan destroy failed: {}", vmId, e.getMessage());
                listener.action("error", vmId);
            }
        }
    }

    private void destroyIfOrphanSnapshot(String snapshotId) {
        try {
            if (lifecycle.destroyOrphanSnapshot(snapshotId, "reconciler")) listener.action("orphan_snapshot_destroyed", null);
        } catch (RuntimeException e) {
            log.warn("snapshot_id={} op=reconcile orphan snapshot delete failed: {}", snapshotId, e.getMessage());
            listener.action("error", null);
        }
    }

    /** Orphans seen and waiting out their grace period (for metrics and tests). */
    public int pendingOrphans() {
        return orphansFirstSeen.size();
    }
}
