package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * The VM's own traffic as network activity: every pass reads each running VM's interface counter and, when it moved
 * by at least {@code thresholdBytes} since the last pass, records network activity (which also counts as activity
 * for idle suspend). The threshold keeps background chatter (ARP and the like, tens of bytes) from keeping an idle VM
 * awake. The first reading of a VM (after a start or a server restart) is only a baseline.
 */
public final class NetworkTrafficSampler extends FixedIntervalLoop {
    /** A VM's interface counter, or -1 when it has none ({@code LifecycleCoordinator::networkBytes}). */
    @FunctionalInterface
    public interface TrafficCounter {
        long bytes(String vmId);
    }

    private final VmStore store;
    private final TrafficCounter traffic;
    private final long thresholdBytes;
    private final Map<String, Long> lastBytes = new HashMap<>();
    /** The node whose VMs' interfaces this loop reads (null: every node, for a single-node store). */
    private final String node;

    public NetworkTrafficSampler(VmStore store, TrafficCounter traffic, Duration interval, long thresholdBytes, String node) {
        super("network-traffic", interval);
        this.store = store;
        this.traffic = traffic;
        this.thresholdBytes = thresholdBytes;
        this.node = node;
    }

    public NetworkTrafficSampler(VmStore store, TrafficCounter traffic, Duration interval, long thresholdBytes) {
        this(store, traffic, interval, thresholdBytes, null);
    }

    @Override
    public void runOnce(Instant now) {
        Set<String> seen = new HashSet<>();
        for (Vm vm : store.everyVm(node)) {
            if (vm.status() != VmStatus.RUNNING) continue;
            long bytes = traffic.bytes(vm.id());
            if (bytes < 0) continue;
            seen.add(vm.id());
            Long before = lastBytes.put(vm.id(), bytes);
            // a smaller count is a recreated interface: a new baseline, not traffic
            if (before != null && bytes - before >= thresholdBytes) store.touchNetwork(vm.id(), now);
        }
        lastBytes.keySet().retainAll(seen);
    }
}
