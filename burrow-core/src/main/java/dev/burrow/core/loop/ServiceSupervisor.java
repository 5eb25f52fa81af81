package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.service.ServiceManager;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Host side of service supervision, for running VMs that have services: removes succeeded
 * {@code deleteAfterSuccess} oneshots, stops services whose required service failed, reports vanished supervisors.
 * Restart policies are applied by the supervisors inside the VMs, so they hold while this loop (or the server) is
 * down; after a restart this loop simply reads their state again.
 */
public final class ServiceSupervisor extends FixedIntervalLoop {
    private static final Logger log = LoggerFactory.getLogger(ServiceSupervisor.class);

    private final VmStore store;
    private final ServiceManager services;
    /** The node whose VMs this loop supervises (null: every node, for a single-node store). */
    private final String node;

    public ServiceSupervisor(VmStore store, ServiceManager services, Duration interval, String node) {
        super("service-supervisor", interval);
        this.store = store;
        this.services = services;
        this.node = node;
    }

    public ServiceSupervisor(VmStore store, ServiceManager services, Duration interval) {
        this(store, services, interval, null);
    }

    @Override
    public void runOnce(Instant now) {
        java.util.Set<String> notifying = new java.util.HashSet<>();
        for (Vm vm : store.everyVm(node)) {
            boolean up = vm.status() == VmStatus.RUNNING || vm.status() == VmStatus.SUSPENDED
                    || vm.status() == VmStatus.HIBERNATED;
            boolean notifies = vm.spec().services().stream().anyMatch(dev.burrow.core.vm.ServiceSpec::notifies);
            if (notifies && !java.util.Set.of(VmStatus.STOPPING, VmStatus.STOPPED, VmStatus.FAILED, VmStatus.DELETING,
                    VmStatus.DELETED).contains(vm.status())) {
                notifying.add(vm.id());
            }
            if (up && notifies) {
                // listen again after a server restart; sockets of a suspended VM stay open for its resume
                try {
                    services.syncNotify(vm);
                } catch (RuntimeException e) {
                    log.debug("vm_id={} op=notify-sync skipped: {}", vm.id(), e.getMessage());
                }
            }
            if (vm.status() != VmStatus.RUNNING || vm.spec().services().isEmpty()) continue;
            try {
                services.supervise(vm);
            } catch (BurrowException e) {
                // the VM changed under us (suspended, stopped, deleted): the next pass sees the new state
                log.debug("vm_id={} op=supervise skipped: {}", vm.id(), e.getMessage());
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=supervise failed: {}", vm.id(), e.getMessage());
            }
        }
        services.retainNotify(notifying);
    }
}
