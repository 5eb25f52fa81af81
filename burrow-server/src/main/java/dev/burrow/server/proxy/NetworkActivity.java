package dev.burrow.server.proxy;

import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.VmStatus;

/**
 * Turns proxied traffic into a VM's {@code lastNetworkActivity} (and activity for idle suspend): at most one store
 * write per VM per interval however many connections carry bytes, off the connection's thread.
 */
public final class NetworkActivity {
    private static final Logger log = LoggerFactory.getLogger(NetworkActivity.class);
    public static final long INTERVAL_NANOS = 5_000_000_000L;

    private final LifecycleCoordinator lifecycle;
    private final ConcurrentHashMap<String, Long> last = new ConcurrentHashMap<>();

    public NetworkActivity(LifecycleCoordinator lifecycle) {
        this.lifecycle = lifecycle;
    }

    /** Bytes moved for {@code vmId}; records it unless this VM's last record is younger than the interval. */
    public void traffic(String vmId, String cause) {
        long now = System.nanoTime();
        boolean[] due = {false};
        last.compute(vmId, (k, before) -> {
            if (before != null && now - before < INTERVAL_NANOS) return before;
            due[0] = true;
            return now;
        });
        if (!due[0]) return;
        Thread.ofVirtual().start(() -> {
            try {
                lifecycle.networkActivity(vmId, cause);
            } catch (RuntimeException e) {
                log.atDebug().addKeyValue("vm_id", vmId).log("network activity not recorded: {}", e.getMessage());
            }
        });
    }

    /** Forgets deleted VMs. */
    public TransitionListener vmDeletionListener() {
        return (vm, from, op, cause, durationMs, reason) -> {
            if (vm.status() == VmStatus.DELETED) last.remove(vm.id());
        };
    }
}
