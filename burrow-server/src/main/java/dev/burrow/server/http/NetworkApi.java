package dev.burrow.server.http;

import dev.burrow.api.NetworkPolicyBody;
import dev.burrow.api.VmNetworkResponse;
import dev.burrow.core.driver.NetworkInfo;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.core.vm.Vm;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/** {@code /v1/vms/{id}/network}: a VM's address and its egress policy, replaceable while the VM runs. */
public final class NetworkApi implements ApiModule {
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;

    public NetworkApi(LifecycleCoordinator lifecycle) {
        this.lifecycle = lifecycle;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, "/v1/vms/{vm_id}/network", "A VM's address, gateway and network policy", null,
                VmNetworkResponse.class, Access.API_KEY, ctx -> {
                    String id = VmRequests.vmId(ctx);
                    NetworkInfo info = lifecycle.networkInfo(id);
                    ctx.json(response(lifecycle.get(id), info));
                });
        table.add(cfg, HandlerType.PUT, "/v1/vms/{vm_id}/network",
                "Replace a VM's network policy (egress allow-all/deny-all, allow/deny CIDRs and domains, bandwidth and "
                        + "connection limits); applied at once to a running VM, omitted fields take their defaults",
                NetworkPolicyBody.class, VmNetworkResponse.class, Access.API_KEY, this::replace);
    }

    private void replace(Context ctx) {
        String id = VmRequests.vmId(ctx);
        NetworkPolicyBody body = VmRequests.requiredBody(ctx, NetworkPolicyBody.class);
        Vm vm = lifecycle.updateNetwork(id, toPolicy(body), CAUSE);
        ctx.json(response(vm, lifecycle.networkInfo(id)));
    }

    private static VmNetworkResponse response(Vm vm, NetworkInfo info) {
        return new VmNetworkResponse(vm.id(), info == null ? null : info.address(), info == null ? null : info.gateway(),
                toBody(vm.spec().network()));
    }

    /** The wire policy as the core's (validated there; bad values are 400 INVALID_NETWORK_POLICY). */
    static NetworkPolicy toPolicy(NetworkPolicyBody b) {
        if (b == null) return NetworkPolicy.ALLOW_ALL;
        return new NetworkPolicy(NetworkPolicy.Egress.fromWire(b.egress()), b.allowCidrs(), b.denyCidrs(), b.allowDomains(),
                b.denyDomains(), b.bandwidthMbps(), b.maxConnections());
    }

    static NetworkPolicyBody toBody(NetworkPolicy p) {
        return new NetworkPolicyBody(p.egress().wire(), p.allowCidrs(), p.denyCidrs(), p.allowDomains(), p.denyDomains(),
                p.bandwidthMbps(), p.maxConnections());
    }
}
