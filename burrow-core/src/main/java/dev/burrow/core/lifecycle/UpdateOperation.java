package dev.burrow.core.lifecycle;

import java.util.List;
import java.util.function.UnaryOperator;

import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.core.vm.ServiceSpec;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/**
 * Changes to a VM's spec without a status change (resize, disk quota, network policy, services): the host applies the
 * change first, the spec is written (with an event) only once it did.
 */
final class UpdateOperation {
    private final Transitions t;
    private final SandboxDriver driver;

    UpdateOperation(Transitions t) {
        this.t = t;
        this.driver = t.driver();
    }

    /** Grows a VM's disk quota; only growing, and only a VM made with a quota. */
    Vm resizeDisk(String id, int rootfsSizeMb, String cause) {
        try (var held = t.lock(id, "resize")) {
            Vm vm = t.get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) throw Transitions.invalid(vm, "resize");
            Integer current = vm.spec().rootfsSizeMb();
            if (current == null) {
                throw BurrowException.of(ErrorCode.RESIZE_VM_BAD_REQUEST, "VM " + id + " was created without a disk quota "
                        + "(its disk is only bounded by the host's storage); there is no quota to grow");
            }
            if (rootfsSizeMb < current) {
                throw BurrowException.of(ErrorCode.RESIZE_VM_BAD_REQUEST, "a disk quota can only grow: VM " + id + " has "
                        + current + " MiB, asked for " + rootfsSizeMb + " MiB");
            }
            if (rootfsSizeMb == current) return vm;
            t.diskQuota().resizeDisk(id, rootfsSizeMb);
            var s = vm.spec();
            var grown = new VmSpec(s.image(), s.vcpuCount(), s.memSizeMb(), s.env(), s.workdir(),
                    s.idleTimeoutSeconds(), s.persistence(), s.labels(), rootfsSizeMb, s.snapshotId(), s.services(), s.network(),
                    s.ports());
            return t.write(vm.withSpec(grown), vm.status(), vm.statusReason(), "resize", cause, null);
        }
    }

    /** New cpu and memory limits, admitted against the node's capacity. */
    Vm resize(String id, int vcpuCount, int memSizeMb, String cause) {
        try (var held = t.lock(id, "resize")) {
            Vm vm = t.get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) throw Transitions.invalid(vm, "resize");
            var admission = t.admission();
            admission.admitResize(vm, vcpuCount, memSizeMb);
            try {
                t.resources().resize(id, vcpuCount, memSizeMb);
            } catch (RuntimeException e) {
                // the ledger goes back to what the VM still has
                admission.transitioned(vm, vm.status(), "resize", cause, null, null);
                throw e;
            }
            return t.write(vm.withSpec(vm.spec().withResources(vcpuCount, memSizeMb)), vm.status(), vm.statusReason(),
                    "resize", cause, null);
        }
    }

    /** A new network policy: live on a running or suspended VM, kept for the next start of a stopped one. */
    Vm updateNetwork(String id, NetworkPolicy policy, String cause) {
        var network = driver.network().orElseThrow(
                () -> BurrowException.of(ErrorCode.NETWORKING_DISABLED, "this server runs VMs without networking"));
        try (var held = t.lock(id, "network")) {
            Vm vm = t.get(id);
            if (vm.status().transitional() || vm.status() == VmStatus.FAILED) {
                throw Transitions.invalid(vm, "change the network of");
            }
            long t0 = System.nanoTime();
            network.updateNetwork(id, policy);
            return t.write(vm.withSpec(vm.spec().withNetwork(policy)), vm.status(), vm.statusReason(), "network", cause,
                    Transitions.elapsed(t0));
        }
    }

    /** The services of the spec changed under the VM's lock; {@code change} may throw to refuse. */
    Vm updateServices(String id, UnaryOperator<List<ServiceSpec>> change, String op, String cause) {
        try (var held = t.lock(id, op)) {
            Vm vm = t.get(id);
            if (vm.status().transitional()) throw Transitions.invalid(vm, op);
            var next = change.apply(vm.spec().services());
            return t.write(vm.withSpec(vm.spec().withServices(next)), vm.status(), vm.statusReason(), op, cause, null);
        }
    }
}
