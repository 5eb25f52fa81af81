package dev.burrow.server.http;

import io.javalin.config.RoutesConfig;

/**
 * One group of HTTP routes (VMs, identities, networking, …). Each module registers its routes through the
 * {@link RouteTable}, so they are described in {@code /openapi.json}; the server wires the modules in one place.
 */
@FunctionalInterface
public interface ApiModule {
    void register(RoutesConfig cfg, RouteTable table);
}
