package dev.burrow.server.observability;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;

/**
 * Every query in {@code deploy/grafana/burrow.json} names only metrics a running Burrow exports (read from a
 * real server's {@code /metrics}), so a renamed metric cannot silently blank a panel.
 */
class DashboardTest {
    /** Series Prometheus itself adds to every scrape target; Burrow cannot export them. */
    private static final Set<String> PROMETHEUS_SERIES = Set.of("up", "scrape_duration_seconds");
    private static final Set<String> PROMQL_WORDS = Set.of("by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan", "le");
    private static final Pattern IDENT = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");

    @Test
    void everyPanelQueryUsesOnlyExportedMetrics() throws Exception {
        JsonNode dash = Json.MAPPER.readTree(Files.readString(Deploy.dir().resolve("grafana/burrow.json")));
        TreeMap<String, String> used = new TreeMap<>(); // metric -> where
        List<String> titles = new ArrayList<>();
        collectPanels(dash.get("panels"), used, titles);
        for (JsonNode var : dash.path("templating").path("list")) {
            Matcher m = Pattern.compile("label_values\\(\\s*([a-zA-Z_:][a-zA-Z0-9_:]*)").matcher(var.path("query").asText());
            if (m.find()) used.put(m.group(1), "variable " + var.get("name").asText());
        }
        // the panels the issue asks for are there
        assertThat(titles).contains("VM creation rate", "VM creation latency", "Active VMs by status", "API error rate",
                "Suspend / resume latency", "Loop errors", "Seconds since last successful pass");
        assertThat(used).containsKeys("burrow_vm_create_total", "burrow_vm_create_duration_seconds_bucket",
                "burrow_active_vms", "burrow_api_errors_total", "burrow_vm_suspend_duration_seconds_bucket",
                "burrow_vm_resume_duration_seconds_bucket", "burrow_loop_errors_total");

        Set<String> exported;
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            String vm = srv.createVm("{}");
            srv.post("/v1/vms/" + vm + "/suspend", null);
            srv.post("/v1/vms/" + vm + "/start", null);
            srv.get("/v1/vms/aaaaaaaaaaaaaaaaaaaa"); // one API error, so the error counter exists
            exported = PrometheusText.parse(srv.call("GET", "/metrics", null, null).body()).names();
        }
        Set<String> missing = new TreeSet<>();
        used.forEach((metric, where) -> {
            if (!exported.contains(metric) && !PROMETHEUS_SERIES.contains(metric)) missing.add(metric + " (" + where + ")");
        });
        assertThat(missing).as("dashboard metrics Burrow does not export").isEmpty();
    }

    private static void collectPanels(JsonNode panels, TreeMap<String, String> used, List<String> titles) {
        for (JsonNode p : panels) {
            titles.add(p.path("title").asText());
            for (JsonNode t : p.path("targets")) {
                String expr = t.path("expr").asText();
                assertThat(expr).as("panel %s has a query", p.path("title").asText()).isNotBlank();
                for (String m : metricNames(expr)) used.put(m, "panel '" + p.path("title").asText() + "'");
            }
            if (p.has("panels")) collectPanels(p.get("panels"), used, titles);
        }
    }

    /** Metric names in a PromQL expression: identifiers that are not functions, keywords or label names. */
    static Set<String> metricNames(String expr) {
        String s = expr.replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"")   // string literals
                .replaceAll("\\{[^}]*}", "")                            // label matchers
                .replaceAll("\\[[^]]*]", "")                            // range selectors
                .replaceAll("\\$[a-zA-Z_]+", "")                        // Grafana variables
                .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", "");
        Set<String> names = new TreeSet<>();
        Matcher m = IDENT.matcher(s);
        while (m.find()) {
            String id = m.group();
            int next = m.end();
            while (next < s.length() && Character.isWhitespace(s.charAt(next))) next++;
            boolean function = next < s.length() && s.charAt(next) == '(';
            boolean number = m.start() > 0 && Character.isDigit(s.charAt(m.start() - 1));
            if (!function && !number && !PROMQL_WORDS.contains(id)) names.add(id);
        }
        return names;
    }

    @Test
    void metricNameExtractionSeesThroughPromqlSyntax() {
        assertThat(metricNames("histogram_quantile(0.95, sum by (le, type) (rate(a_bucket{x=\"y\", i=~\"$instance\"}[$__rate_interval])))"))
                .containsExactly("a_bucket");
        assertThat(metricNames("sum(rate(b_total{status=\"failure\"}[5m])) / sum(rate(b_total[5m])) > 0.1"))
                .containsExactly("b_total");
        assertThat(metricNames("time() - max by (loop) (c_seconds)")).containsExactly("c_seconds");
        assertThat(metricNames("sum(x) / on(instance) group_left y")).containsExactly("x", "y");
    }
}
