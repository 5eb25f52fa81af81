package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;

/**
 * A VM stuck in a transitional status (creating, starting, stopping, …) for longer than {@code limit} is
 * failed and cleaned through the coordinator, so no VM can stay "starting" forever.
 */
public final class StuckTransitionSweeper extends FixedIntervalLoop {
    private static final Logger log = LoggerFactory.getLogger(StuckTransitionSweeper.class);

    private final VmStore store;
    private final LifecycleCoordinator lifecycle;
    private final Duration limit;

    public StuckTransitionSweeper(VmStore store, LifecycleCoordinator lifecycle, Duration interval, Duration limit) {
        super("stuck-transition-sweeper", interval);
        this.store = store;
        this.lifecycle = lifecycle;
        this.limit = limit;
    }

    @Override
    public void runOnce(Instant now) {
        for (Vm vm : store.everyVm(lifecycle.nodeId())) {
            if (!vm.status().transitional()) continue;
            try {
                var action = lifecycle.expireStuck(vm.id(), now, limit, "timeout");
                if (action != LifecycleCoordinator.ReconcileAction.NONE) {
                    log.warn("vm_id={} op=timeout status={} stuck longer than {} s: {}", vm.id(), vm.status().dbName(),
                            limit.toSeconds(), action);
                }
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=timeout failed: {}", vm.id(), e.getMessage());
            }
        }
    }
}
