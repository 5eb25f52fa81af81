package dev.burrow.server.tracing;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.VmStatus;
import dev.burrow.server.metrics.VmType;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;

/**
 * OpenTelemetry traces: spans for API requests, lifecycle transitions and driver calls, exported over OTLP/HTTP
 * (protobuf) when an endpoint is configured. Without one, {@link #off()} is the API's no-op implementation:
 * the SDK is never initialised, no exporter thread exists, and callers skip span work on {@link #enabled()}.
 *
 * <p>A transition span covers intent to outcome. The coordinator reports both through its listener on the
 * thread doing the work, but the listener cannot hold a scope open across the driver call, so the open span is
 * kept by VM id and {@link #parentFor} hands it to the driver decorator as the parent of the driver's span.
 */
public final class Tracing implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Tracing.class);
    private static final String SCOPE = "dev.burrow";
    static final AttributeKey<String> VM_ID = AttributeKey.stringKey("burrow.vm.id");
    static final AttributeKey<String> VM_TYPE = AttributeKey.stringKey("burrow.vm.type");
    static final AttributeKey<String> OP = AttributeKey.stringKey("burrow.op");
    static final AttributeKey<String> FROM = AttributeKey.stringKey("burrow.vm.from");
    static final AttributeKey<String> TO = AttributeKey.stringKey("burrow.vm.to");
    static final AttributeKey<String> CAUSE = AttributeKey.stringKey("burrow.cause");

    private final OpenTelemetry otel;
    private final Tracer tracer;
    private final AutoCloseable shutdown;
    private final String endpoint;
    private final Map<String, Span> openTransitions = new ConcurrentHashMap<>();

    private Tracing(OpenTelemetry otel, AutoCloseable shutdown, String endpoint) {
        this.otel = otel;
        this.tracer = otel.getTracer(SCOPE);
        this.shutdown = shutdown;
        this.endpoint = endpoint;
    }

    /** Tracing off: the no-op API, nothing started. */
    public static Tracing off() {
        return new Tracing(OpenTelemetry.noop(), () -> { }, null);
    }

    /**
     * Tracing on, exporting to {@code endpoint}: a collector's base URL ({@code http://host:4318}, as in
     * OTEL_EXPORTER_OTLP_ENDPOINT; {@code /v1/traces} is appended) or the full traces URL.
     */
    public static Tracing otlp(String endpoint, String serviceVersion, String nodeId) {
        String url = tracesUrl(endpoint);
        OpenTelemetrySdk sdk = Sdk.create(url, serviceVersion, nodeId);
        log.info("traces exported by OTLP/HTTP to {}", url);
        return new Tracing(sdk, () -> sdk.shutdown().join(10, TimeUnit.SECONDS), url);
    }

    /** Null or blank: off. */
    public static Tracing of(String endpoint, String serviceVersion, String nodeId) {
        return endpoint == null || endpoint.isBlank() ? off() : otlp(endpoint, serviceVersion, nodeId);
    }

    /** The OTLP traces URL for a configured endpoint; IllegalArgumentException when it is not an http(s) URL. */
    public static String tracesUrl(String endpoint) {
        URI uri;
        try {
            uri = URI.create(endpoint.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("OTLP endpoint is not a URL: '" + endpoint + "'", e);
        }
        if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
            throw new IllegalArgumentException("OTLP endpoint must be an http(s) URL such as http://127.0.0.1:4318, got '"
                    + endpoint + "'");
        }
        String s = uri.toString();
        if (s.endsWith("/v1/traces")) return s;
        return (s.endsWith("/") ? s.substring(0, s.length() - 1) : s) + "/v1/traces";
    }

    public boolean enabled() {
        return endpoint != null;
    }

    /** Where spans go, or null when off. */
    public String endpoint() {
        return endpoint;
    }

    public Tracer tracer() {
        return tracer;
    }

    /** The parent a request's span continues from: the caller's W3C {@code traceparent}, if it sent one. */
    public <C> Context extract(C carrier, TextMapGetter<C> getter) {
        return W3CTraceContextPropagator.getInstance().extract(Context.current(), carrier, getter);
    }

    /** The open transition span of this VM when there is one, else the current context. */
    /** {@code task} bound to the calling thread's trace context (unchanged when tracing is off). */
    public Runnable withCurrentContext(Runnable task) {
        return enabled() ? Context.current().wrap(task) : task;
    }

    public Context parentFor(String vmId) {
        Span open = vmId == null ? null : openTransitions.get(vmId);
        return open != null ? Context.current().with(open) : Context.current();
    }

    /** Opens a span at each intent and ends it at the outcome. */
    public TransitionListener transitionListener() {
        return (vm, from, op, cause, durationMs, reason) -> {
            if (!enabled()) return;
            if (durationMs == null) {
                // Only an intent opens a span; a status rewrite without a driver call (resize) has nothing to time.
                if (!vm.status().transitional()) return;
                Span span = tracer.spanBuilder("vm." + op).setSpanKind(SpanKind.INTERNAL)
                        .setAllAttributes(Attributes.of(VM_ID, vm.id(), VM_TYPE, VmType.of(vm), OP, op, CAUSE, cause))
                        .startSpan();
                Span previous = openTransitions.put(vm.id(), span);
                // The coordinator writes every intent's outcome unless the outcome write itself failed; a
                // span left over from that is ended here rather than leaked.
                if (previous != null) previous.setStatus(StatusCode.ERROR, "no outcome recorded").end();
                return;
            }
            Span span = openTransitions.remove(vm.id());
            if (span == null) {
                // An outcome without an intent we saw (e.g. delete resumed from a crash's "deleting"): the
                // span covers the driver call only.
                span = tracer.spanBuilder("vm." + op).setSpanKind(SpanKind.INTERNAL)
                        .setStartTimestamp(Instant.now().minus(Duration.ofMillis(durationMs)))
                        .setAllAttributes(Attributes.of(VM_ID, vm.id(), VM_TYPE, VmType.of(vm), OP, op, CAUSE, cause))
                        .startSpan();
            }
            span.setAttribute(FROM, from == null ? "" : from.dbName());
            span.setAttribute(TO, vm.status().dbName());
            if (reason != null || vm.status() == VmStatus.FAILED) {
                span.setStatus(StatusCode.ERROR, reason == null ? "failed" : reason);
            }
            span.end();
        };
    }

    /** Flushes what is buffered and stops the exporter. */
    @Override
    public void close() {
        openTransitions.values().forEach(Span::end);
        openTransitions.clear();
        try {
            shutdown.close();
        } catch (Exception e) {
            log.warn("trace exporter shutdown failed: {}", e.toString());
        }
    }

    /** SDK construction kept apart, so that with tracing off none of the SDK's classes is even loaded. */
    private static final class Sdk {
        static OpenTelemetrySdk create(String url, String serviceVersion, String nodeId) {
            Resource resource = Resource.getDefault().merge(Resource.create(Attributes.of(
                    AttributeKey.stringKey("service.name"), "burrow",
                    AttributeKey.stringKey("service.version"), serviceVersion,
                    AttributeKey.stringKey("service.instance.id"), nodeId)));
            OtlpHttpSpanExporter exporter = OtlpHttpSpanExporter.builder().setEndpoint(url)
                    .setTimeout(Duration.ofSeconds(10)).build();
            SdkTracerProvider provider = SdkTracerProvider.builder().setResource(resource)
                    .addSpanProcessor(BatchSpanProcessor.builder(exporter).setScheduleDelay(Duration.ofSeconds(2)).build())
                    .build();
            return OpenTelemetrySdk.builder().setTracerProvider(provider).build();
        }
    }
}
