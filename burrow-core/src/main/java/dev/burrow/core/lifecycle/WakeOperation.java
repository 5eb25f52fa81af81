package dev.burrow.core.lifecycle;

import java.util.Objects;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Start and resume: a stopped, failed or hibernated VM started again (its boot hook run), a suspended one thawed.
 * Access wakes a VM through {@link #wake}, so callers never see the idle machinery.
 */
final class WakeOperation {
    private static final Logger log = LoggerFactory.getLogger(WakeOperation.class);

    private final Transitions t;
    private final SandboxDriver driver;
    private volatile BootHook bootHook = BootHook.NONE;

    WakeOperation(Transitions t) {
        this.t = t;
        this.driver = t.driver();
    }

    void setBootHook(BootHook hook) {
        this.bootHook = Objects.requireNonNull(hook, "hook");
    }

    /** Starts a stopped VM or resumes a suspended one; a running VM is returned as is. */
    Vm start(String id, String cause) {
        try (var held = t.lock(id, "start")) {
            Vm vm = t.get(id);
            return switch (vm.status()) {
                case RUNNING -> vm;
                case SUSPENDED -> t.transition(vm, "resume", VmStatus.RESUMING, VmStatus.RUNNING, cause,
                        () -> driver.resume(id));
                case STOPPED, FAILED, HIBERNATED -> {
                    t.admission().admitStart(vm);
                    yield t.transition(vm, "start", VmStatus.STARTING, VmStatus.RUNNING, cause, () -> startAndBoot(vm));
                }
                default -> throw Transitions.invalid(vm, "start");
            };
        }
    }

    /**
     * Access wakes a VM: a suspended one is thawed, a hibernated one started again. Stopped VMs stay stopped (their
     * disk is still reachable for files). The VM's lock is held by the caller.
     */
    Vm wake(Vm vm, String cause) {
        return switch (vm.status()) {
            case SUSPENDED -> t.transition(vm, "resume", VmStatus.RESUMING, VmStatus.RUNNING, cause,
                    () -> driver.resume(vm.id()));
            case HIBERNATED -> {
                t.admission().admitStart(vm);
                yield t.transition(vm, "start", VmStatus.STARTING, VmStatus.RUNNING, cause, () -> startAndBoot(vm));
            }
            default -> vm;
        };
    }

    /** Runs the boot hook in a VM whose processes just started; a hook that throws fails the caller (a create). */
    void boot(Vm vm) {
        bootHook.booted(vm, req -> t.processes().exec(vm.id(), req));
    }

    /**
     * Starts a sandbox's processes again and runs the boot hook. A failing hook does not fail the start: the VM
     * runs, and what the hook could not do (a service that did not start) is visible where it is reported.
     */
    private void startAndBoot(Vm vm) {
        driver.start(vm.id());
        try {
            boot(vm);
        } catch (RuntimeException e) {
            log.warn("vm_id={} op=start boot hook failed, the VM runs without it: {}", vm.id(), e.getMessage());
        }
    }
}
