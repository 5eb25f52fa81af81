package dev.burrow.server.observability;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;

/**
 * A real Prometheus (Debian's package) scrapes a running Burrow on loopback with the shipped alert rules
 * loaded: Burrow's exposition parses, the series arrive with their labels, and every alert expression
 * evaluates without error against real data.
 */
class PrometheusScrapeTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void prometheusScrapesBurrowAndEvaluatesTheAlertRules(@TempDir Path tmp) throws Exception {
        HostRequirements.requireCommand("prometheus");
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            srv.createVm("{\"labels\":{\"type\":\"run\"}}");
            Path rules = Deploy.dir().resolve("prometheus/alerts.yml");
            Path config = tmp.resolve("prometheus.yml");
            Files.writeString(config, """
                    global:
                      scrape_interval: 1s
                      evaluation_interval: 1s
                    rule_files:
                      - %s
                    scrape_configs:
                      - job_name: burrow
                        metrics_path: /metrics
                        static_configs:
                          - targets: ['127.0.0.1:%d']
                    """.formatted(rules, srv.server.port()));
            int port = freePort();
            String api = "http://127.0.0.1:" + port;
            Path log = tmp.resolve("prometheus.log");
            Process prom = new ProcessBuilder("prometheus", "--config.file=" + config,
                    "--storage.tsdb.path=" + tmp.resolve("data"), "--web.listen-address=127.0.0.1:" + port,
                    "--log.level=warn").redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                Awaitility.await("Prometheus scraped Burrow").atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
                        .ignoreExceptions().until(() -> scalar(api, "up{job=\"burrow\"}") == 1.0
                                && !query(api, "burrow_vm_create_total").isEmpty());

                // Burrow's own series arrived with their labels
                assertThat(scalar(api, "burrow_vm_capacity")).isEqualTo((double) TestServer.MAX_VMS);
                assertThat(scalar(api, "burrow_vm_create_total{type=\"run\",status=\"success\"}")).isEqualTo(1.0);
                assertThat(scalar(api, "sum(burrow_active_vms{type=\"run\",status=\"running\"})")).isEqualTo(1.0);
                assertThat(query(api, "burrow_api_request_duration_seconds_bucket{route=\"/v1/vms\",method=\"POST\"}")).isNotEmpty();
                assertThat(query(api, "burrow_loop_duration_seconds_count{loop=\"reconciler\"}")).isNotEmpty();
                assertThat(query(api, "jvm_memory_used_bytes")).isNotEmpty();
                // the failure-ratio expression has data to divide (zeros are exported up front)
                assertThat(scalar(api, "sum(burrow_vm_create_total{status=\"failure\"})")).isEqualTo(0.0);

                // every rule loaded, was evaluated, and evaluated without error; none fires against a healthy
                // server. (An evaluation that ran before the first scrape landed sees absent(up) and marks
                // BurrowDown pending; the next one, with Burrow up, clears it — hence waiting for inactive.)
                Awaitility.await("rules evaluated").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500))
                        .untilAsserted(() -> assertThat(rules(api)).allSatisfy(r -> {
                            assertThat(r.path("health").asText()).as("health of %s", r).isEqualTo("ok");
                            assertThat(r.path("state").asText()).as("state of %s", r).isEqualTo("inactive");
                        }));
                List<JsonNode> loaded = rules(api);
                assertThat(loaded).extracting(r -> r.get("name").asText()).containsExactlyInAnyOrder("BurrowDown",
                        "BurrowVmCreateFailureRateHigh", "BurrowVmCreateLatencyHigh", "BurrowNearCapacity",
                        "BurrowReconcilerFoundOrphans");
                for (JsonNode r : loaded) {
                    assertThat(r.path("lastError").asText("")).as("rule %s", r.get("name")).isEmpty();
                    assertThat(r.get("state").asText()).as("rule %s", r.get("name")).isEqualTo("inactive");
                    // and each expression, run as a plain query, is valid PromQL over the real series
                    assertThat(get(api, "/api/v1/query?query=" + enc(r.get("query").asText())).get("status").asText())
                            .isEqualTo("success");
                }
            } finally {
                prom.destroy();
                if (!prom.waitFor(15, TimeUnit.SECONDS)) {
                    prom.destroyForcibly();
                    prom.waitFor(10, TimeUnit.SECONDS);
                }
                if (Files.exists(log)) System.out.println("prometheus log:\n" + Files.readString(log));
            }
        }
    }

    private static List<JsonNode> rules(String api) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode g : get(api, "/api/v1/rules").get("data").get("groups")) g.get("rules").forEach(out::add);
        return out;
    }

    private static JsonNode query(String api, String promql) throws Exception {
        JsonNode r = get(api, "/api/v1/query?query=" + enc(promql));
        assertThat(r.get("status").asText()).as("query %s: %s", promql, r).isEqualTo("success");
        return r.get("data").get("result");
    }

    /** The value of a query returning exactly one series. */
    private static double scalar(String api, String promql) throws Exception {
        JsonNode result = query(api, promql);
        assertThat(result).as("result of %s", promql).hasSize(1);
        return Double.parseDouble(result.get(0).get("value").get(1).asText());
    }

    private static JsonNode get(String api, String pathAndQuery) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(api + pathAndQuery)).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString());
        return Json.MAPPER.readTree(r.body());
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
