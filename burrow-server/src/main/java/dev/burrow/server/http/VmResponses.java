package dev.burrow.server.http;

import dev.burrow.api.CreateVmRequest;
import dev.burrow.api.SnapshotResponses;
import dev.burrow.api.VmInfo;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/** VMs and snapshots as the wire records the routes answer with. */
public final class VmResponses {
    private VmResponses() { }

    static VmInfo info(LifecycleCoordinator lifecycle, Vm vm) {
        var s = vm.spec();
        var pull = lifecycle.pullOf(vm).map(ImagesApi::pullInfo).orElse(null);
        return new VmInfo(vm.id(), vm.id(), state(vm), vm.status().dbName(), vm.statusReason(), vm.createdAt(),
                vm.lastActivityAt(), vm.lastNetworkActivityAt(),
                new CreateVmRequest.Persistence(s.persistence().wireType(), s.persistence().priority(),
                        s.persistence().wireDeleteEvent()),
                s.image(), s.vcpuCount(), s.memSizeMb(), s.idleTimeoutSeconds(), s.labels(), vm.node(),
                vm.status() == VmStatus.DELETED, s.rootfsSizeMb(), s.snapshotId(), pull);
    }

    static String state(Vm vm) {
        return StateMapping.freestyleState(vm.status());
    }

    static SnapshotResponses.SnapshotInfo snapshotInfo(Snapshot snap) {
        var p = snap.persistence();
        // deleted is always false: a deleted snapshot's row is removed, not kept
        return new SnapshotResponses.SnapshotInfo(snap.id(), snap.sourceVmId().isEmpty() ? null : snap.sourceVmId(),
                snap.createdAt(), snap.name(), snap.failed(), snap.failureReason(), false,
                new SnapshotResponses.SnapshotPersistence(p.wireType(),
                        p.type() == Persistence.Type.STICKY ? p.priority() : null),
                snap.sourceSpec().vcpuCount(), snap.sourceSpec().memSizeMb(), snap.sourceSpec().rootfsSizeMb(),
                snap.image().isEmpty() ? null : snap.image(), snap.lastUsedAt(), snap.templateHash(), snap.user());
    }
}
