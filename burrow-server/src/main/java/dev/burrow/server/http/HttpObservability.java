package dev.burrow.server.http;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.server.metrics.BurrowMetrics;
import dev.burrow.server.tracing.Tracing;
import io.javalin.http.Context;
import io.javalin.router.Endpoint;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;

/**
 * Per-request metrics and spans, from a before and an after hook around every request. Labels and span names
 * use the route template Javalin matched ({@code /v1/vms/{vm_id}}), never the raw path: a raw path holds VM
 * ids and file paths, and each distinct label value is a new time series.
 */
final class HttpObservability {
    private static final Logger log = LoggerFactory.getLogger(HttpObservability.class);
    /** The route label of a request no route matched (a 404 for an unknown path, or a bad method). */
    static final String UNMATCHED = "unmatched";
    private static final String T0 = "burrow.t0";
    private static final String SPAN = "burrow.span";
    private static final String SCOPE = "burrow.scope";

    private static final TextMapGetter<Context> HEADERS = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Context ctx) {
            return ctx.headerMap().keySet();
        }

        @Override
        public String get(Context ctx, String key) {
            return ctx == null ? null : ctx.header(key);
        }
    };

    private final BurrowMetrics metrics;
    private final Tracing tracing;
    private final RouteTable table;
    /** Route templates as regexes, compiled on first use (the table is complete once the server runs). */
    private volatile java.util.List<java.util.Map.Entry<RouteTable.Route, java.util.regex.Pattern>> patterns;

    HttpObservability(BurrowMetrics metrics, Tracing tracing, RouteTable table) {
        this.metrics = metrics;
        this.tracing = tracing;
        this.table = table;
    }

    void before(Context ctx) {
        ctx.attribute(T0, System.nanoTime());
        if (!tracing.enabled()) return;
        Span span = tracing.tracer().spanBuilder(ctx.method().name()).setSpanKind(SpanKind.SERVER)
                .setParent(tracing.extract(ctx, HEADERS))
                .setAttribute("http.request.method", ctx.method().name())
                .setAttribute("url.path", ctx.path())
                .startSpan();
        ctx.attribute(SPAN, span);
        // Current for the rest of the request, so lifecycle and driver spans made on this thread nest under it.
        ctx.attribute(SCOPE, span.makeCurrent());
    }

    void after(Context ctx) {
        Long t0 = ctx.attribute(T0);
        String method = ctx.method().name();
        String route = route(ctx);
        int status = ctx.statusCode();
        if (t0 != null) metrics.apiRequest(method, route, System.nanoTime() - t0);
        if (status >= 400) metrics.apiError(route, status);
        Span span = ctx.attribute(SPAN);
        if (span == null) return;
        Scope scope = ctx.attribute(SCOPE);
        try {
            span.updateName(method + " " + route);
            span.setAttribute("http.route", route);
            span.setAttribute("http.response.status_code", status);
            if (status >= 500) span.setStatus(StatusCode.ERROR);
            span.end();
        } finally {
            if (scope != null) {
                try {
                    scope.close();
                } catch (RuntimeException e) {
                    log.debug("closing the request span's scope failed: {}", e.toString());
                }
            }
        }
    }

    String route(Context ctx) {
        try {
            Endpoint e = ctx.endpoints().matchedHttpEndpoint();
            if (e != null) return e.path;
        } catch (RuntimeException ignored) {
            // no endpoint matched
        }
        // A request refused by a before hook (401) never reaches endpoint matching; match it ourselves so the
        // failure is counted against the route it was for.
        if (patterns == null) {
            patterns = table.routes().stream().map(r -> java.util.Map.entry(r, java.util.regex.Pattern.compile(
                    java.util.Arrays.stream(r.path().split("/", -1))
                            .map(seg -> seg.startsWith("{") ? "[^/]+" : seg.startsWith("<") ? ".+"
                                    : java.util.regex.Pattern.quote(seg))
                            .collect(java.util.stream.Collectors.joining("/"))))).toList();
        }
        for (var p : patterns) {
            if (p.getKey().method() == ctx.method() && p.getValue().matcher(ctx.path()).matches()) return p.getKey().path();
        }
        return UNMATCHED;
    }
}
