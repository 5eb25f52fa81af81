package dev.burrow.server.http;

import java.util.Map;

import dev.burrow.api.DomainApiTypes.DomainMappingInfo;
import dev.burrow.api.DomainApiTypes.MappingRequest;
import dev.burrow.core.domain.DomainMapping;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.server.http.RouteTable.Access;
import dev.burrow.server.proxy.DomainMappings;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * {@code /domains/v1/mappings}: Freestyle's domain-mapping routes as the SDK's {@code domains.mappings} calls them,
 * for VMs (requests for the mapped domain reach the VM through the preview proxy).
 */
public final class DomainsApi implements ApiModule {
    private static final String BASE = "/domains/v1/mappings";
    private static final int DEFAULT_LIMIT = 100;
    private static final int MAX_LIMIT = 1000;

    private final DomainMappings domains;

    public DomainsApi(DomainMappings domains) {
        this.domains = domains;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, BASE,
                "List domain mappings, oldest first, as a JSON array (limit, offset, domain)", null,
                DomainMappingInfo[].class, Access.API_KEY, ctx -> {
                    int limit = intQuery(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
                    int offset = intQuery(ctx, "offset", 0, 0, Integer.MAX_VALUE);
                    String domain = ctx.queryParam("domain");
                    ctx.json(domains.list(domain == null || domain.isEmpty() ? null : domain, limit, offset).stream()
                            .map(this::info).toList());
                });
        table.add(cfg, HandlerType.POST, BASE + "/{domain}",
                "Map a domain to a VM port (vmId, vmPort default 443); the same VM again changes the port, another VM is 409",
                MappingRequest.class, DomainMappingInfo.class, Access.API_KEY, ctx -> {
                    MappingRequest r = VmRequests.requiredBody(ctx, MappingRequest.class);
                    if (r.deploymentId() != null) {
                        throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD,
                                "this Burrow server maps domains to VMs only; give 'vmId', not 'deploymentId'");
                    }
                    if (r.vmId() == null || r.vmId().isBlank()) {
                        throw BurrowException.of(ErrorCode.INVALID_DOMAIN_MAPPING, "'vmId' is required");
                    }
                    String domain = DomainMappings.normalize(ctx.pathParam("domain"));
                    if (r.domain() != null && !DomainMappings.normalize(r.domain()).equals(domain)) {
                        throw BurrowException.of(ErrorCode.INVALID_DOMAIN_MAPPING,
                                "the body's 'domain' (" + r.domain() + ") is not the path's (" + domain + ")");
                    }
                    ctx.json(info(domains.map(domain, r.vmId(), r.vmPort())));
                });
        table.add(cfg, HandlerType.DELETE, BASE + "/{domain}", "Remove a domain mapping", null, null, Access.API_KEY, ctx -> {
            domains.unmap(ctx.pathParam("domain"));
            ctx.json(Map.of());
        });
    }

    private DomainMappingInfo info(DomainMapping m) {
        return new DomainMappingInfo(m.id(), m.domain(), null, m.vmId(), m.vmPort(), domains.ownership(m.domain()),
                m.createdAt(), null);
    }

    /** An empty value ({@code ?limit=}, as clients that serialise unset fields send) counts as absent here. */
    private static int intQuery(Context ctx, String name, int dflt, int min, int max) {
        String v = ctx.queryParam(name);
        return v != null && v.isEmpty() ? dflt : QueryParams.intParam(ctx, name, dflt, min, max);
    }
}
