package dev.burrow.server.http;

import java.time.Duration;
import java.util.Map;

import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.server.http.RouteTable.Access;
import dev.burrow.server.metrics.BurrowMetrics;
import dev.burrow.server.tracing.Tracing;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import io.javalin.http.HttpResponseException;
import io.javalin.json.JavalinJackson;

/**
 * The HTTP surface: Javalin with one JSON mapper, each route behind the access its {@link RouteTable} entry declares, the
 * {@code {error, code, message, description}} body on every failure (written by {@link ErrorResponses}),
 * {@code /openapi.json} and health routes.
 */
public final class ApiServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ApiServer.class);
    /** Request bodies above this are refused with 413 (a 64 MiB file is ~86 MiB as base64 JSON). */
    public static final long MAX_BODY_BYTES = 96L * 1024 * 1024;
    /** How long a connection may stay idle (between requests, or with a read or write stalled). */
    static final Duration IDLE_TIMEOUT = Duration.ofSeconds(120);

    private final Javalin app;
    private final RouteTable table;
    private final java.util.List<io.javalin.event.HandlerMetaInfo> registered = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final java.util.List<io.javalin.event.WsHandlerMetaInfo> registeredWs = new java.util.concurrent.CopyOnWriteArrayList<>();

    public ApiServer(String host, int port, Auth auth, java.util.List<ApiModule> modules, String version, BurrowMetrics metrics,
                     Tracing tracing, Readiness readiness, ErrorResponses errors) {
        this.table = new RouteTable(auth);
        HttpObservability observe = new HttpObservability(metrics, tracing, table);
        this.app = Javalin.create(cfg -> {
            cfg.jsonMapper(new JavalinJackson(Json.MAPPER, false));
            // Keep-alive connections are closed by the client first: Jetty's default idle timeout (30 s) equals the
            // JDK HttpClient's keep-alive timeout, so a client could send its next request on a connection the server
            // was closing at that moment and get no answer at all ("header parser received no bytes"). Go's
            // client keeps idle connections 90 s, the JDK's and Node's less.
            cfg.jetty.addConnector((server, http) -> {
                ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
                connector.setHost(host);
                connector.setPort(port);
                connector.setIdleTimeout(IDLE_TIMEOUT.toMillis());
                return connector;
            });
            cfg.http.maxRequestSize = MAX_BODY_BYTES;
            cfg.startup.showJavalinBanner = false;
            // The vendor SDK sends file paths as one percent-encoded segment (%2F inside); Jetty's default
            // compliance would reject that as an ambiguous path separator.
            cfg.jetty.modifyHttpConfiguration(hc -> hc.setUriCompliance(UriCompliance.UNSAFE));
            cfg.jetty.modifyServletContextHandler(h -> {
                h.getServletHandler().setDecodeAmbiguousURIs(true);
                h.setErrorHandler(new JsonErrorHandler());
            });
            cfg.jetty.modifyServer(server -> server.setErrorHandler(new JsonErrorHandler()));
            cfg.events.handlerAdded(registered::add);
            cfg.events.wsHandlerAdded(registeredWs::add);

            // Before every handler, so the request's time and span include authentication (each route's own,
            // applied by the route table).
            cfg.routes.before(observe::before);
            for (ApiModule m : modules) m.register(cfg.routes, table);
            table.add(cfg.routes, HandlerType.GET, "/openapi.json", "This document", null, null, Access.PUBLIC,
                    ctx -> ctx.json(table.openApi(version)));
            table.add(cfg.routes, HandlerType.GET, "/healthz", "Process is alive", null, null, Access.PUBLIC,
                    ctx -> ctx.json(Map.of("status", "ok")));
            table.add(cfg.routes, HandlerType.GET, "/readyz", "Store and driver are usable (503 NOT_READY when not)",
                    null, null, Access.PUBLIC, ctx -> ready(ctx, readiness, errors));
            // Unauthenticated like /healthz, as Prometheus scrapers expect; it carries counts and timings, no
            // ids or secrets. Bind the server to loopback or firewall the port when the API must not be public.
            table.add(cfg.routes, HandlerType.GET, "/metrics", "Prometheus metrics (text exposition format)", null,
                    null, Access.PUBLIC, ctx -> ctx.contentType(metrics.contentType()).result(metrics.scrape()));
            cfg.routes.after(observe::after);

            cfg.routes.exception(BurrowException.class, errors::burrow);
            cfg.routes.exception(HttpResponseException.class, (e, ctx) -> {
                // An oversized body is left unread; the connection cannot be reused, so say so instead of
                // letting the client send its next request into a socket Jetty is about to close.
                if (e.getStatus() == 413) ctx.header("Connection", "close");
                errors.status(ctx, e.getStatus(), e.getMessage());
            });
            cfg.routes.exception(Exception.class, errors::unhandled);
            cfg.routes.error(404, ctx -> {
                if (ctx.result() == null || ctx.result().isEmpty()) {
                    errors.status(ctx, 404, "no route for " + ctx.method() + " " + ctx.path());
                }
            });
            cfg.routes.error(405, ctx -> errors.status(ctx, 405, ctx.method() + " is not allowed on " + ctx.path()));
        });
    }

    public ApiServer start() {
        app.start();
        return this;
    }

    public int port() {
        return app.port();
    }

    public RouteTable routes() {
        return table;
    }

    /** Every handler Javalin registered (for the OpenAPI sync test). */
    public java.util.List<io.javalin.event.HandlerMetaInfo> registeredHandlers() {
        return java.util.List.copyOf(registered);
    }

    /** Every WebSocket handler Javalin registered (for the OpenAPI sync test). */
    public java.util.List<io.javalin.event.WsHandlerMetaInfo> registeredWsHandlers() {
        return java.util.List.copyOf(registeredWs);
    }

    @Override
    public void close() {
        app.stop();
    }

    private static void ready(Context ctx, Readiness readiness, ErrorResponses errors) {
        Readiness.Result r = readiness.check();
        if (r.ready()) {
            ctx.json(Map.of("status", "ready", "checks", r.checks()));
            return;
        }
        StringBuilder why = new StringBuilder("not ready:");
        r.failures().forEach((name, failure) -> why.append(' ').append(name).append(": ").append(failure).append(';'));
        why.setLength(why.length() - 1);
        log.warn("/readyz: {}", why);
        ErrorResponses.write(ctx, ErrorCode.NOT_READY.status, ErrorCode.NOT_READY.name(), errors.scrub(why.toString()), null);
    }

}
