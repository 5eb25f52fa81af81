package dev.burrow.server.observability;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Readiness;

/** {@code /healthz}, {@code /readyz} and the capacity setting on a real server, without the API key. */
class HealthEndpointsTest {

    @Test
    void readyzChecksStoreAndDriverAndAnswers503WithTheFailure() {
        try (TestServer srv = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withObservability(new ServerConfig.Observability(7, null)))) {
            assertThat(srv.call("GET", "/healthz", null, null).status()).isEqualTo(200);

            TestServer.Response ready = srv.call("GET", "/readyz", null, null);
            assertThat(ready.status()).isEqualTo(200);
            assertThat(ready.json().get("status").asText()).isEqualTo("ready");
            assertThat(ready.json().get("checks").get("store").asText()).isEqualTo("ok");
            assertThat(ready.json().get("checks").get("driver").asText()).isEqualTo("ok");

            // --max-vms is what the near-capacity alert compares with
            PrometheusText m = PrometheusText.parse(srv.call("GET", "/metrics", null, null).body());
            assertThat(m.value("burrow_vm_capacity", Map.of())).isEqualTo(7.0);

            srv.server.readiness().add(new Readiness.Check("disk", () -> {
                throw new IllegalStateException("disk on fire");
            }));
            TestServer.Response notReady = srv.call("GET", "/readyz", null, null);
            assertThat(notReady.status()).isEqualTo(503);
            JsonNode body = notReady.json();
            assertThat(body.get("error").asText()).isEqualTo("NOT_READY");
            assertThat(body.get("code").asText()).isEqualTo("NOT_READY");
            assertThat(body.get("message").asText()).isEqualTo("not ready: disk: disk on fire");
            // liveness is unaffected: the process is alive, it just should not get traffic
            assertThat(srv.call("GET", "/healthz", null, null).status()).isEqualTo(200);
        }
    }
}
