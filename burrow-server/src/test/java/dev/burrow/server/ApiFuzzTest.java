package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.server.http.Json;

/**
 * Walks {@code /openapi.json} and sends every operation what a careless or hostile client would: malformed JSON,
 * each field with a wrong type, huge and negative numbers, a 10 MB body, duplicate keys, deep nesting, unknown ids and
 * methods the path does not have. Every answer must be a 4xx with the error body ({@code error}, {@code code},
 * {@code message}, {@code description}) that shows no host detail, and nothing may change: the VMs, snapshots,
 * identities and domain mappings are the same afterwards and the test VM still runs.
 *
 * <p>Deterministic: the cases are derived from the document in its order, and the only choices (which wrong value a
 * field gets) come from a fixed seed. Nothing is sent that a valid request could be: a GET without path parameters
 * (which may be an endless stream) and a body-less operation on a real id (which would act: stop, delete) are left
 * out — those are the routes' own tests.
 */
class ApiFuzzTest {
    private static final long SEED = 0x5EED_2026_1207L;
    private static final String UNKNOWN_VM = "aaaaaaaaaaaaaaaaaaaa";
    private static final List<String> METHODS = List.of("GET", "POST", "PUT", "PATCH", "DELETE");
    private static final int TEN_MB = 10 * 1024 * 1024;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void everyOperationAnswersMalformedRequestsWithA4xxAndChangesNothing() {
        try (TestServer srv = FakeServer.start()) {
            String vmId = srv.createVm("{}");
            Map<String, String> before = state(srv, vmId);
            JsonNode doc = srv.get("/openapi.json").json();
            Random random = new Random(SEED);
            List<Case> cases = cases(doc, vmId, random);
            assertThat(cases).hasSizeGreaterThan(500);

            SoftAssertions soft = new SoftAssertions();
            Map<String, Long> nanosByKind = new java.util.TreeMap<>();
            for (Case c : cases) {
                long t0 = System.nanoTime();
                TestServer.Response r = send(srv, c);
                nanosByKind.merge(c.what().replaceAll(" <- .*| as .*", ""), System.nanoTime() - t0, Long::sum);
                String shown = c.method() + " " + c.path() + " " + abbreviate(c.body()) + " (" + c.what() + ") -> "
                        + abbreviate(r.toString());
                soft.assertThat(r.status()).as(shown).isBetween(400, 499);
                if (r.status() >= 400) checkErrorBody(soft, srv, r, shown);
            }
            // where the time went, for a CI log that wonders (not asserted: no test depends on speed)
            nanosByKind.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(8)
                    .forEach(e -> System.out.printf("fuzz %-40s %6d ms%n", e.getKey(), e.getValue() / 1_000_000));
            soft.assertThat(state(srv, vmId)).as("state after " + cases.size() + " requests").isEqualTo(before);
            soft.assertAll();
        }
    }

    /**
     * Sends one case. A large body goes with {@code Expect: 100-continue}: a route that refuses the request before
     * reading its body (an unknown process id) answers at once, and a client still uploading 10 MB would otherwise see
     * the server close the connection under it instead of the answer.
     */
    private static TestServer.Response send(TestServer srv, Case c) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(srv.url() + c.path()))
                    .timeout(Duration.ofMinutes(2)).header("Authorization", "Bearer " + TestServer.KEY);
            if (c.body() == null) {
                b.method(c.method(), HttpRequest.BodyPublishers.noBody());
            } else {
                b.header("Content-Type", "application/json").expectContinue(c.body().length() > 64 * 1024)
                        .method(c.method(), HttpRequest.BodyPublishers.ofString(c.body()));
            }
            HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            return new TestServer.Response(r.statusCode(), r.body());
        } catch (IOException e) {
            throw new AssertionError(c.method() + " " + c.path() + " " + abbreviate(c.body()) + " (" + c.what() + "): " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** What must not change: the lists of VMs, snapshots, identities and mappings, and the test VM's state. */
    private static Map<String, String> state(TestServer srv, String vmId) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("vms", ids(srv.get("/v1/vms").json().get("vms"), "id"));
        s.put("snapshots", srv.get("/v1/vms/snapshots").body());
        s.put("identities", srv.get("/identity/v1/identities").body());
        s.put("mappings", srv.get("/domains/v1/mappings").body());
        s.put("vm", srv.get("/v1/vms/" + vmId).json().get("state").asText());
        s.put("files", Integer.toString(srv.get("/v1/vms/" + vmId + "/files/%2Ftmp%2Ffuzz").status()));
        s.put("services", srv.get("/v1/vms/" + vmId + "/systemd/services").body());
        s.put("processes", ids(srv.get("/v1/vms/" + vmId + "/processes").json().path("processes"), "id"));
        s.put("terminals", srv.get("/v1/vms/" + vmId + "/terminals").body());
        return s;
    }

    private static String ids(JsonNode list, String field) {
        Set<String> out = new TreeSet<>();
        list.forEach(n -> out.add(n.path(field).asText()));
        return out.toString();
    }

    private static void checkErrorBody(SoftAssertions soft, TestServer srv, TestServer.Response r, String shown) {
        JsonNode body;
        try {
            body = Json.MAPPER.readTree(r.body());
        } catch (java.io.IOException e) {
            soft.fail("not JSON: " + shown);
            return;
        }
        soft.assertThat(body.path("error").asText()).as(shown).matches("[A-Z][A-Z0-9_]+");
        soft.assertThat(body.path("code").asText()).as(shown).isEqualTo(body.path("error").asText());
        soft.assertThat(body.path("message").asText()).as(shown).isNotBlank();
        soft.assertThat(body.path("description").asText()).as(shown).isEqualTo(body.path("message").asText());
        soft.assertThat(r.body()).as(shown).doesNotContain(srv.dataDir.toString()).doesNotContain("Exception")
                .doesNotContain("\tat ").doesNotContain("--root");
    }

    // ---- the cases ----

    record Case(String method, String path, String body, String what) { }

    private record Operation(String method, String template, JsonNode op) { }

    static List<Case> cases(JsonNode doc, String vmId, Random random) {
        JsonNode schemas = doc.path("components").path("schemas");
        List<Operation> ops = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> paths = doc.path("paths").fields(); paths.hasNext(); ) {
            var p = paths.next();
            for (Iterator<Map.Entry<String, JsonNode>> m = p.getValue().fields(); m.hasNext(); ) {
                var e = m.next();
                ops.add(new Operation(e.getKey().toUpperCase(java.util.Locale.ROOT), p.getKey(), e.getValue()));
            }
        }
        List<Case> cases = new ArrayList<>();
        for (Operation o : ops) {
            JsonNode schema = requestSchema(o.op(), schemas);
            boolean hasParams = o.template().contains("{");
            if (schema != null) {
                String path = concrete(o.template(), vmId);
                for (var body : bodies(schema, schemas, random)) {
                    cases.add(new Case(o.method(), path, body.getValue(), body.getKey()));
                }
            }
            if (hasParams) {
                // unknown ids; with a body the route may refuse it first, which is a 4xx too
                cases.add(new Case(o.method(), concrete(o.template(), UNKNOWN_VM),
                        schema != null ? "{}" : null, "unknown ids"));
                cases.add(new Case(o.method(), concrete(o.template(), "NOT-AN-ID"), schema != null ? "{}" : null,
                        "malformed id"));
            }
        }
        // methods a path does not have, unless another route's template matches the same concrete path
        Set<String> seen = new TreeSet<>();
        for (Operation o : ops) {
            if (!seen.add(o.template())) continue;
            String path = concrete(o.template(), vmId);
            for (String method : METHODS) {
                boolean declared = ops.stream().anyMatch(x -> x.method().equals(method) && matches(x.template(), path));
                if (!declared) cases.add(new Case(method, path, null, "wrong method"));
            }
        }
        return cases;
    }

    /** Bodies that no route may accept: each is named by what is wrong with it. */
    private static List<Map.Entry<String, String>> bodies(JsonNode schema, JsonNode schemas, Random random) {
        List<Map.Entry<String, String>> out = new ArrayList<>();
        out.add(Map.entry("malformed JSON", "{not json"));
        out.add(Map.entry("truncated JSON", "{\"a\":"));
        out.add(Map.entry("not an object", "[1,2,3]"));
        out.add(Map.entry("a bare number", "42"));
        out.add(Map.entry("trailing garbage", "{} {}"));
        out.add(Map.entry("10 MB unterminated string", "{\"a\":\"" + "A".repeat(TEN_MB)));
        out.add(Map.entry("deep nesting", "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}"));
        JsonNode props = schema.path("properties");
        List<String> names = new ArrayList<>();
        props.fieldNames().forEachRemaining(names::add);
        for (String name : names) {
            JsonNode field = resolve(props.get(name), schemas);
            String type = field.path("type").asText("");
            for (JsonNode wrong : wrongValues(type, random)) {
                ObjectNode body = JsonNodeFactory.instance.objectNode();
                body.set(name, wrong);
                out.add(Map.entry(name + " as " + type + " <- " + abbreviate(wrong.toString()), body.toString()));
            }
            if (!type.isEmpty()) {
                String valid = switch (type) {
                    case "string" -> "\"x\"";
                    case "integer", "number" -> "1";
                    case "boolean" -> "false";
                    case "array" -> "[]";
                    default -> "{}";
                };
                out.add(Map.entry("duplicate " + name, "{\"" + name + "\":" + valid + ",\"" + name + "\":" + valid + "}"));
            }
        }
        return out;
    }

    /** Values of the wrong type for a field of {@code type}; numbers also out of every range. */
    private static List<JsonNode> wrongValues(String type, Random random) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        List<JsonNode> others = new ArrayList<>(List.of(f.numberNode(7), f.textNode("x"), f.booleanNode(true),
                f.arrayNode().add(1), f.objectNode().put("k", 1)));
        return switch (type) {
            case "string" -> List.of(pick(others, random, 0, 2, 3, 4), f.numberNode(123));
            case "integer" -> List.of(f.textNode("\u0000"), f.textNode("12"), f.numberNode(1.5),
                    f.numberNode(new java.math.BigInteger("123456789012345678901234567890")), f.numberNode(-1),
                    f.numberNode(Long.MIN_VALUE), pick(others, random, 2, 3, 4));
            case "number" -> List.of(f.textNode("\u0000"), f.textNode("1.5"),
                    f.numberNode(new java.math.BigDecimal("1e400")), f.numberNode(-1), pick(others, random, 2, 3, 4));
            case "boolean" -> List.of(f.textNode("true"), f.numberNode(1), pick(others, random, 3, 4));
            case "array" -> List.of(f.textNode("x"), pick(others, random, 0, 4));
            case "object" -> List.of(f.textNode("x"), pick(others, random, 0, 3));
            default -> List.of();
        };
    }

    private static JsonNode pick(List<JsonNode> values, Random random, int... allowed) {
        return values.get(allowed[random.nextInt(allowed.length)]);
    }

    private static JsonNode requestSchema(JsonNode op, JsonNode schemas) {
        JsonNode s = op.path("requestBody").path("content").path("application/json").path("schema");
        if (s.isMissingNode()) return null;
        return resolve(s, schemas);
    }

    private static JsonNode resolve(JsonNode s, JsonNode schemas) {
        String ref = s.path("$ref").asText("");
        if (ref.isEmpty()) return s;
        return schemas.path(ref.substring(ref.lastIndexOf('/') + 1));
    }

    /** The template with its parameters filled: the VM id, a file path, and unknown values for the rest. */
    private static String concrete(String template, String vmId) {
        return template.replace("{vm_id}", vmId).replace("{path}", "%2Ftmp%2Ffuzz")
                .replaceAll("\\{[^}]+}", "fuzz-unknown");
    }

    private static boolean matches(String template, String path) {
        String regex = Pattern.quote(template).replace("{path}", "\\E.+\\Q").replaceAll("\\{[^}]+}", "\\\\E[^/]+\\\\Q");
        return Pattern.matches(regex, path);
    }

    private static String abbreviate(String s) {
        if (s == null) return "";
        return s.length() > 200 ? s.substring(0, 200) + "…(" + s.length() + " chars)" : s;
    }
}
