package dev.burrow.server.http;

import java.util.List;

import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.server.proxy.DomainMappings;

/**
 * The {@code /v1/vms} modules, one per resource, in the order they must be registered: {@link SnapshotApi} before
 * {@link VmLifecycleApi}, since Javalin tries routes in the order they were added and {@code GET /v1/vms/snapshots}
 * would otherwise be taken for {@code GET /v1/vms/{vm_id}}. The files, process, terminal, service, network, port,
 * domain and image modules are wired beside these.
 */
public final class VmModules {
    private VmModules() { }

    public static List<ApiModule> of(LifecycleCoordinator lifecycle, int maxVcpus, int maxMemMb, EventBroadcaster events,
                                     DomainMappings domains) {
        VmCreateApi create = new VmCreateApi(lifecycle, maxVcpus, maxMemMb, domains);
        return List.of(create, new SnapshotApi(lifecycle, create.templateBuilds()), new VmLifecycleApi(lifecycle),
                new VmResizeApi(lifecycle, maxVcpus, maxMemMb), new VmExecApi(lifecycle), new VmEventsApi(lifecycle, events));
    }
}
