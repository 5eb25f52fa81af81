package dev.burrow.server.ssh;

import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.lifecycle.LifecycleCoordinator;

/**
 * Turns SSH traffic into VM activity: at most one store write per interval, off the I/O thread, so a busy
 * session keeps its VM from idling out (and wakes it if it was suspended meanwhile) without a write per packet.
 */
final class SessionActivity {
    private static final Logger log = LoggerFactory.getLogger(SessionActivity.class);
    private static final long INTERVAL_NANOS = 5_000_000_000L;

    private final LifecycleCoordinator lifecycle;
    private final String vmId;
    private final AtomicLong last = new AtomicLong(System.nanoTime());
    private final AtomicLong lastNetwork = new AtomicLong(System.nanoTime() - INTERVAL_NANOS);

    SessionActivity(LifecycleCoordinator lifecycle, String vmId) {
        this.lifecycle = lifecycle;
        this.vmId = vmId;
    }

    void traffic() {
        long now = System.nanoTime();
        long before = last.get();
        if (now - before < INTERVAL_NANOS || !last.compareAndSet(before, now)) return;
        Thread.ofVirtual().start(() -> {
            try {
                lifecycle.activity(vmId, "ssh traffic");
            } catch (RuntimeException e) {
                log.atDebug().addKeyValue("vm_id", vmId).log("activity not recorded: {}", e.getMessage());
            }
        });
    }

    /** Port-forward traffic: also the VM's last network activity (its first bytes are recorded at once). */
    void networkTraffic() {
        long now = System.nanoTime();
        long before = lastNetwork.get();
        if (now - before < INTERVAL_NANOS || !lastNetwork.compareAndSet(before, now)) return;
        Thread.ofVirtual().start(() -> {
            try {
                lifecycle.networkActivity(vmId, "ssh port forward");
            } catch (RuntimeException e) {
                log.atDebug().addKeyValue("vm_id", vmId).log("network activity not recorded: {}", e.getMessage());
            }
        });
    }
}
