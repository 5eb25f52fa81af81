package dev.burrow.server.observability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;

import com.sun.net.httpserver.HttpServer;

import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;
import dev.burrow.server.tracing.Tracing;
import io.opentelemetry.api.trace.Span;

/**
 * Traces leave Burrow by OTLP/HTTP when an endpoint is set: a tiny OTLP receiver on loopback gets the
 * protobuf export, and its spans nest API request → lifecycle transition → driver call, continuing the
 * caller's W3C trace. Without an endpoint nothing is initialised.
 */
class TracingTest {
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String CALLER_SPAN = "00f067aa0ba902b7";

    @Test
    void spansAreExportedByOtlpAndNestRequestTransitionAndDriverCall() throws Exception {
        List<byte[]> exports = new CopyOnWriteArrayList<>();
        List<String> contentTypes = new CopyOnWriteArrayList<>();
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/v1/traces", ex -> {
            contentTypes.add(ex.getRequestHeaders().getFirst("Content-Type"));
            exports.add(ex.getRequestBody().readAllBytes());
            ex.getResponseHeaders().add("Content-Type", "application/x-protobuf");
            ex.sendResponseHeaders(200, -1); // an empty ExportTraceServiceResponse is zero bytes
            ex.close();
        });
        receiver.start();
        String vmId;
        try {
            String endpoint = "http://127.0.0.1:" + receiver.getAddress().getPort();
            try (TestServer srv = TestServer.start("builtin:busybox", null,
                    cfg -> cfg.withObservability(new ServerConfig.Observability(100, endpoint)))) {
                assertThat(srv.server.tracing().enabled()).isTrue();
                HttpResponse<String> created = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                                URI.create(srv.url() + "/v1/vms")).timeout(Duration.ofMinutes(2))
                        .header("Authorization", "Bearer " + TestServer.KEY).header("Content-Type", "application/json")
                        .header("traceparent", "00-" + TRACE_ID + "-" + CALLER_SPAN + "-01")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"labels\":{\"type\":\"agent\"}}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(created.statusCode()).isEqualTo(200);
                vmId = Json.MAPPER.readTree(created.body()).get("id").asText();
                assertThat(srv.post("/v1/vms/" + vmId + "/exec-await", "{\"command\":\"true\"}").status()).isEqualTo(200);
            } // closing the server flushes the batch exporter
        } finally {
            receiver.stop(0);
        }

        assertThat(exports).isNotEmpty();
        assertThat(contentTypes).allMatch(ct -> ct.startsWith("application/x-protobuf"));
        List<OtlpSpan> spans = new ArrayList<>();
        for (byte[] body : exports) spans.addAll(OtlpSpan.decode(body));

        OtlpSpan api = one(spans, "POST /v1/vms");
        assertThat(api.kind()).isEqualTo(2); // SERVER
        assertThat(api.traceId()).isEqualTo(TRACE_ID);
        assertThat(api.parentId()).as("continues the caller's traceparent").isEqualTo(CALLER_SPAN);
        assertThat(api.attributes()).containsEntry("http.route", "/v1/vms").containsEntry("http.response.status_code", "200");

        OtlpSpan prepare = one(spans, "driver.prepare_image");
        assertThat(prepare.parentId()).isEqualTo(api.spanId());

        OtlpSpan transition = spans.stream().filter(s -> s.name().equals("vm.create")
                && vmId.equals(s.attributes().get("burrow.vm.id"))).findFirst().orElseThrow();
        assertThat(transition.traceId()).isEqualTo(TRACE_ID);
        assertThat(transition.parentId()).isEqualTo(api.spanId());
        assertThat(transition.attributes()).containsEntry("burrow.vm.type", "agent").containsEntry("burrow.vm.to", "running")
                .containsEntry("burrow.cause", "api");

        OtlpSpan driverCreate = one(spans, "driver.create");
        assertThat(driverCreate.parentId()).as("driver call nests in its transition").isEqualTo(transition.spanId());
        assertThat(driverCreate.kind()).isEqualTo(3); // CLIENT
        assertThat(driverCreate.attributes()).containsEntry("burrow.vm.id", vmId).containsEntry("burrow.driver", "runc");

        OtlpSpan exec = one(spans, "POST /v1/vms/{vm_id}/exec-await");
        assertThat(one(spans, "driver.exec").parentId()).isEqualTo(exec.spanId());
        // the transition's span covers its driver call
        assertThat(transition.start()).isLessThanOrEqualTo(driverCreate.start());
        assertThat(transition.end()).isGreaterThanOrEqualTo(driverCreate.end());
    }

    @Test
    void withoutAnEndpointTracingIsTheNoOpApi() {
        Tracing off = Tracing.of(null, "0", "n");
        assertThat(off.enabled()).isFalse();
        Span s = off.tracer().spanBuilder("x").startSpan();
        assertThat(s.getSpanContext().isValid()).as("no-op spans record nothing").isFalse();
        s.end();
        off.close();
        assertThat(Tracing.of("  ", "0", "n").enabled()).isFalse();
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().contains("BatchSpanProcessor"));
    }

    @Test
    void endpointsAreCollectorBaseUrlsOrTracesUrls() {
        assertThat(Tracing.tracesUrl("http://127.0.0.1:4318")).isEqualTo("http://127.0.0.1:4318/v1/traces");
        assertThat(Tracing.tracesUrl("http://collector:4318/")).isEqualTo("http://collector:4318/v1/traces");
        assertThat(Tracing.tracesUrl("https://c.example/v1/traces")).isEqualTo("https://c.example/v1/traces");
        assertThatThrownBy(() -> Tracing.tracesUrl("localhost:4318")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("http(s) URL");
        assertThatThrownBy(() -> Tracing.tracesUrl("http://bad host")).isInstanceOf(IllegalArgumentException.class);
    }

    private static OtlpSpan one(List<OtlpSpan> spans, String name) {
        List<OtlpSpan> found = spans.stream().filter(s -> s.name().equals(name)).toList();
        assertThat(found).as("spans named %s among %s", name, spans.stream().map(OtlpSpan::name).toList()).hasSize(1);
        return found.get(0);
    }

    /**
     * The fields of an OTLP span this test reads, decoded from ExportTraceServiceRequest protobuf by hand
     * (opentelemetry-proto's field numbers) rather than with another dependency.
     */
    record OtlpSpan(String traceId, String spanId, String parentId, String name, int kind, long start, long end,
                    Map<String, String> attributes) {

        static List<OtlpSpan> decode(byte[] request) {
            List<OtlpSpan> out = new ArrayList<>();
            for (byte[] resourceSpans : fields(request, 1)) {          // ExportTraceServiceRequest.resource_spans
                for (byte[] scopeSpans : fields(resourceSpans, 2)) {    // ResourceSpans.scope_spans
                    for (byte[] span : fields(scopeSpans, 2)) out.add(span(span)); // ScopeSpans.spans
                }
            }
            return out;
        }

        private static OtlpSpan span(byte[] b) {
            Map<Integer, Object> f = new HashMap<>();
            Map<String, String> attrs = new HashMap<>();
            var r = new Reader(b);
            while (r.more()) {
                int tag = (int) r.varint();
                int field = tag >>> 3;
                Object v = r.value(tag & 7);
                if (field == 9) {                                        // Span.attributes: KeyValue
                    byte[] kv = (byte[]) v;
                    String key = new String(fields(kv, 1).get(0));
                    byte[] any = fields(kv, 2).get(0);                   // AnyValue
                    var ar = new Reader(any);
                    int atag = (int) ar.varint();
                    Object av = ar.value(atag & 7);
                    attrs.put(key, av instanceof byte[] bytes ? new String(bytes) : String.valueOf(av));
                } else {
                    f.put(field, v);
                }
            }
            HexFormat hex = HexFormat.of();
            return new OtlpSpan(hex.formatHex((byte[]) f.get(1)), hex.formatHex((byte[]) f.get(2)),
                    f.containsKey(4) ? hex.formatHex((byte[]) f.get(4)) : "", new String((byte[]) f.get(5)),
                    ((Long) f.getOrDefault(6, 0L)).intValue(), (Long) f.get(7), (Long) f.get(8), attrs);
        }

        /** Every length-delimited occurrence of {@code field} in a message. */
        private static List<byte[]> fields(byte[] message, int field) {
            List<byte[]> out = new ArrayList<>();
            var r = new Reader(message);
            while (r.more()) {
                int tag = (int) r.varint();
                Object v = r.value(tag & 7);
                if (tag >>> 3 == field && v instanceof byte[] bytes) out.add(bytes);
            }
            return out;
        }

        private static final class Reader {
            private final byte[] b;
            private int pos;

            Reader(byte[] b) {
                this.b = b;
            }

            boolean more() {
                return pos < b.length;
            }

            long varint() {
                long v = 0;
                for (int shift = 0; ; shift += 7) {
                    byte x = b[pos++];
                    v |= (long) (x & 0x7f) << shift;
                    if ((x & 0x80) == 0) return v;
                }
            }

            Object value(int wireType) {
                return switch (wireType) {
                    case 0 -> varint();
                    case 1 -> fixed(8);
                    case 2 -> {
                        int len = (int) varint();
                        ByteArrayOutputStream o = new ByteArrayOutputStream();
                        o.write(b, pos, len);
                        pos += len;
                        yield o.toByteArray();
                    }
                    case 5 -> fixed(4);
                    default -> throw new AssertionError("unexpected protobuf wire type " + wireType);
                };
            }

            private long fixed(int bytes) {
                long v = 0;
                for (int i = 0; i < bytes; i++) v |= (long) (b[pos++] & 0xff) << (8 * i);
                return v;
            }
        }
    }
}
