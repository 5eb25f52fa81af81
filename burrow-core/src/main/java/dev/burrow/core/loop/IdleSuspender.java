package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Suspends running VMs idle for longer than their {@code idleTimeoutSeconds} (counted from
 * {@code lastActivityAt}, which survives suspend, resume and restarts), and hibernates VMs that stayed
 * suspended and idle for longer than {@code hibernateAfter} (null: never).
 */
public final class IdleSuspender extends FixedIntervalLoop {
    private static final Logger log = LoggerFactory.getLogger(IdleSuspender.class);

    private final VmStore store;
    private final LifecycleCoordinator lifecycle;
    private final Duration hibernateAfter;

    public IdleSuspender(VmStore store, LifecycleCoordinator lifecycle, Duration interval, Duration hibernateAfter) {
        super("idle-suspender", interval);
        this.store = store;
        this.lifecycle = lifecycle;
        this.hibernateAfter = hibernateAfter;
    }

    @Override
    public void runOnce(Instant now) {
        for (Vm vm : store.everyVm(lifecycle.nodeId())) {
            try {
                Integer idle = vm.spec().idleTimeoutSeconds();
                if (vm.status() == VmStatus.RUNNING && idle != null && idle > 0
                        && !vm.lastActivityAt().plusSeconds(idle).isAfter(now)) {
                    lifecycle.suspend(vm.id(), "idle");
                } else if (vm.status() == VmStatus.SUSPENDED && hibernateAfter != null
                        && !vm.lastActivityAt().plus(hibernateAfter).isAfter(now)) {
                    lifecycle.hibernate(vm.id(), "idle");
                }
            } catch (BurrowException e) {
                // the VM changed under us (deleted, resumed by an access): the next pass sees the new state
                log.debug("vm_id={} op=idle skipped: {}", vm.id(), e.getMessage());
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=idle failed: {}", vm.id(), e.getMessage());
            }
        }
    }
}
