package dev.burrow.server.http;

import static dev.burrow.server.http.VmRequests.requiredBody;
import static dev.burrow.server.http.VmRequests.vmId;
import static dev.burrow.server.http.VmRequests.MAX_ROOTFS_MB;

import java.util.Map;

import dev.burrow.api.SnapshotResponses;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.Vm;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/** {@code POST /v1/vms/{vm_id}/resize}: vCPUs, memory and disk quota of a VM. */
public final class VmResizeApi implements ApiModule {
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;
    private final int maxVcpus;
    private final int maxMemMb;

    public VmResizeApi(LifecycleCoordinator lifecycle, int maxVcpus, int maxMemMb) {
        this.lifecycle = lifecycle;
        this.maxVcpus = maxVcpus;
        this.maxMemMb = maxMemMb;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/resize",
                "Change a VM's vCPUs and memory (applied live to a running VM); omitted fields are kept",
                SnapshotResponses.ResizeRequest.class, SnapshotResponses.ResizeResponse.class, Access.API_KEY, this::resize);
    }

    private void resize(Context ctx) {
        String id = vmId(ctx);
        var req = requiredBody(ctx, SnapshotResponses.ResizeRequest.class);
        Integer diskMb = null;
        if (req.rootfsSizeGb() != null) {
            if (!lifecycle.capabilities().diskQuota()) {
                throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "this host's VM storage has no disk quota (it needs "
                        + "btrfs), so rootfsSizeGb cannot be honoured");
            }
            long mb = Math.round(req.rootfsSizeGb() * 1024);
            if (mb < 1 || mb > MAX_ROOTFS_MB) throw resizeBad("root filesystem size must be between 1 and " + MAX_ROOTFS_MB + " MiB, got " + mb);
            diskMb = (int) mb;
        }
        Vm vm = lifecycle.get(id);
        int vcpus = req.vcpuCount() == null ? vm.spec().vcpuCount() : req.vcpuCount();
        if (vcpus < 1 || vcpus > maxVcpus) throw resizeBad("'vcpuCount' must be between 1 and " + maxVcpus + ", got " + vcpus);
        int memMb = vm.spec().memSizeMb();
        if (req.memSizeMb() != null) memMb = req.memSizeMb();
        else if (req.memSizeGb() != null) memMb = (int) Math.round(req.memSizeGb() * 1024);
        if (memMb < 64 || memMb > maxMemMb) {
            throw resizeBad("memory must be between 64 and " + maxMemMb + " MiB, got " + memMb + " MiB");
        }
        // the disk first: its refusals (shrinking, no quota) come before anything changed
        if (diskMb != null) lifecycle.resizeDisk(id, diskMb, CAUSE);
        if (vcpus != vm.spec().vcpuCount() || memMb != vm.spec().memSizeMb() || diskMb == null) {
            lifecycle.resize(id, vcpus, memMb, CAUSE);
        }
        ctx.json(Map.of());
    }

    private static BurrowException resizeBad(String message) {
        return BurrowException.of(ErrorCode.RESIZE_VM_BAD_REQUEST, message);
    }
}
