package dev.burrow.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.TestServer;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.http.HandlerType;

/**
 * Every route the server registers is called without a key and with a wrong one: each one that is not in the public
 * list answers 401 with the error body, and nothing changes. Path parameters are real ids (a VM, a domain mapping),
 * so a route whose handler ran before its auth would act on something and show it.
 */
class RouteAuthTest {
    private static final String WRONG_KEY = "not-" + TestServer.KEY;

    @Test
    void everyRouteButThePublicOnesRefusesARequestWithoutAKeyOrWithAWrongOne() throws Exception {
        try (TestServer srv = dev.burrow.server.FakeServer.start()) {
            String vm = srv.createVm("{\"image\":\"builtin:busybox\"}");
            var mapped = srv.post("/domains/v1/mappings/app.example.test", "{\"vmId\":\"" + vm + "\",\"vmPort\":8080}");
            assertThat(mapped.status()).as(mapped.body()).isEqualTo(200);
            String before = state(srv);

            List<RouteTable.Route> routes = srv.server.api().routes().routes();
            List<String> checked = new ArrayList<>();
            for (RouteTable.Route r : routes) {
                String path = concrete(r.path(), vm);
                if (r.access() == Access.PUBLIC) {
                    assertThat(RouteTable.PUBLIC).contains(r.method().name() + " " + r.path());
                    var open = srv.call(r.method().name(), path, null, null);
                    assertThat(open.status()).as(r.method() + " " + path + " needs no key: " + open).isIn(200, 503);
                    continue;
                }
                if (r.webSocket()) {
                    assertUpgradeRefused(srv.url().replace("http://", "ws://") + path);
                    checked.add(r.method() + " " + r.path());
                    continue;
                }
                String body = r.method() == HandlerType.GET || r.method() == HandlerType.DELETE ? null : "{}";
                for (String key : new String[] {null, WRONG_KEY}) {
                    var res = srv.call(r.method().name(), path, body, key);
                    assertThat(res.status()).as(r.method() + " " + path + (key == null ? " without a key" : " with a wrong key")
                            + ": " + res).isEqualTo(401);
                    JsonNode err = res.json();
                    assertThat(err.get("error").asText()).isEqualTo("UNAUTHORIZED");
                    assertThat(err.get("code").asText()).isEqualTo("UNAUTHORIZED");
                    assertThat(err.get("message").asText()).isNotBlank();
                }
                checked.add(r.method() + " " + r.path());
            }
            // the hole this test was written for, and the routes every VM operation goes through
            assertThat(checked).contains("GET /domains/v1/mappings", "POST /domains/v1/mappings/{domain}",
                    "DELETE /domains/v1/mappings/{domain}", "POST /v1/vms", "DELETE /v1/vms/{vm_id}",
                    "GET /v1/vms/{vm_id}/terminals/{terminal_id}/ws");
            assertThat(routes.stream().filter(r -> r.access() == Access.PUBLIC).count()).isEqualTo(RouteTable.PUBLIC.size());
            assertThat(state(srv)).as("nothing changed").isEqualTo(before);
            assertThat(srv.get("/v1/vms/" + vm).json().get("state").asText()).isEqualTo("running");
        }
    }

    @Test
    void aTerminalWebSocketIsNotUpgradedWithoutAKeyOrWithAWrongOne() throws Exception {
        try (TestServer srv = dev.burrow.server.FakeServer.start()) {
            String vm = srv.createVm("{\"image\":\"builtin:busybox\"}");
            assertThat(srv.post("/v1/vms/" + vm + "/terminals", "{\"name\":\"t1\"}").status()).isEqualTo(200);
            String ws = srv.url().replace("http://", "ws://") + "/v1/vms/" + vm + "/terminals/t1/ws";
            assertUpgradeRefused(ws);
            // the right key still upgrades (the refusals above are auth, not a broken route)
            WebSocket open = HttpClient.newHttpClient().newWebSocketBuilder()
                    .buildAsync(URI.create(ws + "?access_token=" + TestServer.KEY), new WebSocket.Listener() { })
                    .get(30, TimeUnit.SECONDS);
            open.abort();
        } catch (CompletionException e) {
            throw new AssertionError(e.getCause());
        }
    }

    /** A WebSocket upgrade without a key, with a wrong bearer key and with a wrong {@code access_token} is a 401. */
    private static void assertUpgradeRefused(String uri) {
        for (String wrong : new String[] {null, "header", "query"}) {
            var builder = HttpClient.newHttpClient().newWebSocketBuilder();
            if ("header".equals(wrong)) builder.header("Authorization", "Bearer " + WRONG_KEY);
            String target = "query".equals(wrong) ? uri + "?access_token=" + WRONG_KEY : uri;
            assertThatThrownBy(() -> builder.buildAsync(URI.create(target), new WebSocket.Listener() { }).get(30, TimeUnit.SECONDS))
                    .as(target + " (" + wrong + ")").cause().isInstanceOf(WebSocketHandshakeException.class)
                    .satisfies(e -> assertThat(((WebSocketHandshakeException) e).getResponse().statusCode()).isEqualTo(401));
        }
    }

    /** What a request could have changed: VMs, domain mappings, identities, snapshots, images. */
    private static String state(TestServer srv) {
        StringBuilder b = new StringBuilder();
        for (String p : List.of("/v1/vms", "/domains/v1/mappings", "/identity/v1/identities", "/v1/vms/snapshots", "/v1/images")) {
            b.append(p).append(' ').append(srv.get(p).body().replaceAll("\"(lastActivityAt|lastNetworkActivity|"
                    + "lastNetworkActivityAt|lastUsedAt|pulls)\":[^,}]*", "")).append('\n');
        }
        return b.toString();
    }

    /** The route's path with its parameters filled in: the real VM, a real domain, a plain id elsewhere. */
    private static String concrete(String path, String vm) {
        return path.replace("{vm_id}", vm).replace("{domain}", "app.example.test").replace("<path>", "tmp%2Fx")
                .replaceAll("\\{[^}]+}", "x1");
    }
}
