package dev.burrow.server.http;

import java.util.List;
import java.util.Map;

import dev.burrow.api.VmPortsResponse;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.PortMapping;
import dev.burrow.core.vm.Vm;
import dev.burrow.server.http.RouteTable.Access;
import dev.burrow.server.proxy.DomainMappings;
import dev.burrow.server.proxy.PreviewProxy;
import dev.burrow.server.proxy.PreviewTokens;
import io.javalin.config.RoutesConfig;
import io.javalin.http.HandlerType;

/** {@code /v1/vms/{id}/ports}: a VM's exposed ports with their preview URLs and tokens. */
public final class PortsApi implements ApiModule {
    private final LifecycleCoordinator lifecycle;
    private final PreviewProxy proxy;
    private final PreviewTokens tokens;
    private final String listenHost;
    private final DomainMappings domains;

    public PortsApi(LifecycleCoordinator lifecycle, PreviewProxy proxy, PreviewTokens tokens, String listenHost,
                    DomainMappings domains) {
        this.lifecycle = lifecycle;
        this.proxy = proxy;
        this.tokens = tokens;
        this.listenHost = listenHost;
        this.domains = domains;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, "/v1/vms/{vm_id}/ports",
                "A VM's exposed ports: preview URLs (host-routed, path-routed, HTTPS) and, for private ones, their tokens;"
                        + " and the custom domains mapped to it",
                null, VmPortsResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.get(VmRequests.vmId(ctx));
                    var ports = vm.spec().ports().stream().map(p -> new VmPortsResponse.ExposedPort(
                            p.port(), p.targetPort(), p.publicAccess(), proxy.hostUrl(vm.id(), p.port()),
                            proxy.pathUrl(listenHost, vm.id(), p.port()), proxy.hostHttpsUrl(vm.id(), p.port()),
                            p.publicAccess() ? null : tokens.token(vm.id(), p.port()))).toList();
                    var mapped = domains.forVm(vm.id()).stream().map(d -> new VmPortsResponse.MappedDomain(d.domain(),
                            d.vmPort(), proxy.domainUrl(d.domain(), false), proxy.domainUrl(d.domain(), true))).toList();
                    ctx.json(new VmPortsResponse(vm.id(), ports, mapped));
                });
    }

    /** The create field {@code ports} ({@code [{port, targetPort, public?}]}); null means Freestyle's default. */
    public static List<PortMapping> parse(List<Map<String, Object>> ports) {
        if (ports == null) return PortMapping.DEFAULT;
        List<PortMapping> out = new java.util.ArrayList<>();
        for (Map<String, Object> p : ports) {
            if (p == null) throw bad("'ports' contains null");
            int port = intField(p, "port");
            int target = intField(p, "targetPort");
            Object pub = p.get("public");
            if (pub != null && !(pub instanceof Boolean)) throw bad("'ports[].public' must be true or false");
            out.add(new PortMapping(port, target, Boolean.TRUE.equals(pub)));
        }
        return PortMapping.validate(out);
    }

    private static int intField(Map<String, Object> p, String name) {
        Object v = p.get(name);
        if (!(v instanceof Integer i)) throw bad("'ports[]." + name + "' is required and must be an integer");
        return i;
    }

    private static BurrowException bad(String message) {
        return BurrowException.of(ErrorCode.INVALID_PORTS, message);
    }
}
