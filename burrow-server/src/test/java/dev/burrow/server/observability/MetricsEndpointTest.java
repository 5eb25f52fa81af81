package dev.burrow.server.observability;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.burrow.server.TestServer;

/**
 * {@code GET /metrics} against a real server: lifecycle, API, driver and loop metrics move with what the
 * server did, labels carry route templates and VM types, never raw ids.
 */
class MetricsEndpointTest {

    @Test
    void metricsFollowLifecycleApiDriverAndLoops() {
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            String agent = srv.createVm("{\"labels\":{\"type\":\"agent\"}}");
            String plain = srv.createVm("{}");
            String odd = srv.createVm("{\"labels\":{\"type\":\"batch\"}}");
            assertThat(srv.post("/v1/vms/" + agent + "/suspend", null).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + agent + "/start", null).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + plain + "/exec-await", "{\"command\":\"true\"}").status()).isEqualTo(200);
            assertThat(srv.get("/v1/vms/" + odd).status()).isEqualTo(200);
            assertThat(srv.get("/v1/vms/aaaaaaaaaaaaaaaaaaaa").status()).isEqualTo(404);
            assertThat(srv.call("GET", "/v1/vms", null, null).status()).isEqualTo(401);
            assertThat(srv.get("/no/such/route").status()).isEqualTo(404);

            TestServer.Response r = srv.call("GET", "/metrics", null, null); // no key: scrapers send none
            assertThat(r.status()).isEqualTo(200);
            PrometheusText m = PrometheusText.parse(r.body());

            // creates by type: a known type, no label ("default"), and an unknown value folded into "other"
            for (String type : new String[] {"agent", "default", "other"}) {
                assertThat(m.value("burrow_vm_create_total", Map.of("type", type, "status", "success"))).isEqualTo(1.0);
                assertThat(m.value("burrow_vm_create_total", Map.of("type", type, "status", "failure"))).isEqualTo(0.0);
                assertThat(m.value("burrow_vm_create_duration_seconds_count", Map.of("type", type))).isEqualTo(1.0);
                assertThat(m.value("burrow_active_vms", Map.of("type", type, "status", "running"))).isEqualTo(1.0);
            }
            assertThat(m.value("burrow_vm_create_total", Map.of("type", "workspace", "status", "success"))).isEqualTo(0.0);
            assertThat(m.value("burrow_vm_create_duration_seconds_bucket", Map.of("type", "agent", "le", "+Inf")))
                    .isEqualTo(1.0);
            assertThat(m.value("burrow_active_vms", Map.of("type", "agent", "status", "suspended"))).isEqualTo(0.0);
            assertThat(m.value("burrow_vm_suspend_duration_seconds_count", Map.of())).isEqualTo(1.0);
            assertThat(m.value("burrow_vm_resume_duration_seconds_count", Map.of())).isEqualTo(1.0);
            assertThat(m.value("burrow_vm_capacity", Map.of())).isEqualTo((double) TestServer.MAX_VMS);

            // driver calls, metered by the decorator
            assertThat(m.value("burrow_driver_op_duration_seconds_count", Map.of("driver", "runc", "op", "create")))
                    .isEqualTo(3.0);
            assertThat(m.value("burrow_driver_op_duration_seconds_count", Map.of("driver", "runc", "op", "suspend")))
                    .isEqualTo(1.0);
            assertThat(m.value("burrow_driver_op_duration_seconds_count", Map.of("driver", "runc", "op", "exec")))
                    .isEqualTo(1.0);
            assertThat(m.value("burrow_driver_op_errors_total", Map.of("driver", "runc", "op", "create"))).isEqualTo(0.0);

            // API: route templates, errors by status
            assertThat(m.value("burrow_api_request_duration_seconds_count", Map.of("method", "POST", "route", "/v1/vms")))
                    .isEqualTo(3.0);
            assertThat(m.value("burrow_api_request_duration_seconds_count",
                    Map.of("method", "POST", "route", "/v1/vms/{vm_id}/suspend"))).isEqualTo(1.0);
            assertThat(m.value("burrow_api_errors_total", Map.of("route", "/v1/vms/{vm_id}", "code", "404"))).isEqualTo(1.0);
            assertThat(m.value("burrow_api_errors_total", Map.of("route", "/v1/vms", "code", "401"))).isEqualTo(1.0);
            assertThat(m.value("burrow_api_errors_total", Map.of("route", "unmatched", "code", "404"))).isEqualTo(1.0);
            assertThat(m.find("burrow_api_errors_total", Map.of("code", "500"))).isEmpty();
            // no raw id or path ever becomes a label value
            assertThat(r.body()).doesNotContain(agent).doesNotContain(plain).doesNotContain("aaaaaaaaaaaaaaaaaaaa")
                    .doesNotContain("/no/such/route");

            // the reconciler's first pass runs at start-up, so its loop metrics exist and show no failure
            assertThat(m.value("burrow_loop_duration_seconds_count", Map.of("loop", "reconciler"))).isGreaterThanOrEqualTo(1.0);
            assertThat(m.value("burrow_loop_errors_total", Map.of("loop", "reconciler"))).isEqualTo(0.0);
            assertThat(m.value("burrow_loop_last_success_timestamp_seconds", Map.of("loop", "reconciler")))
                    .isGreaterThan(System.currentTimeMillis() / 1000.0 - 600);
            assertThat(m.value("burrow_reconciler_actions_total", Map.of("kind", "orphan_destroyed"))).isEqualTo(0.0);

            // JVM and process
            assertThat(m.find("jvm_memory_used_bytes", Map.of("area", "heap"))).isNotEmpty();
            assertThat(m.value("process_uptime_seconds", Map.of())).isGreaterThan(0.0);

            // active VMs is read from the store at scrape time: a delete shows at once
            assertThat(srv.delete("/v1/vms/" + agent).status()).isEqualTo(200);
            PrometheusText after = PrometheusText.parse(srv.call("GET", "/metrics", null, null).body());
            assertThat(after.value("burrow_active_vms", Map.of("type", "agent", "status", "running"))).isEqualTo(0.0);
            assertThat(after.value("burrow_active_vms", Map.of("type", "default", "status", "running"))).isEqualTo(1.0);
            assertThat(after.value("burrow_driver_op_duration_seconds_count", Map.of("driver", "runc", "op", "destroy")))
                    .isEqualTo(1.0);
        }
    }
}
