package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

/** Terminals: the Freestyle routes and a browser-style WebSocket (the JDK's client) against real runc. */
class TerminalApiTest {
    static TestServer srv;
    static String vm;
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
        vm = srv.createVm("{}");
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    /** A WebSocket viewer that collects what the terminal shows, and the text frames it gets. */
    static final class Viewer implements WebSocket.Listener {
        final ByteArrayOutputStream screen = new ByteArrayOutputStream();
        final StringBuilder texts = new StringBuilder();
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        WebSocket ws;

        static Viewer attach(String terminal, boolean queryToken) {
            return attach(terminal, queryToken, TestServer.KEY);
        }

        static Viewer attach(String terminal, boolean queryToken, String key) {
            Viewer v = new Viewer();
            String url = srv.url().replace("http://", "ws://") + "/v1/vms/" + vm + "/terminals/" + terminal + "/ws";
            var b = HTTP.newWebSocketBuilder();
            if (queryToken) url += "?access_token=" + key;
            else b.header("Authorization", "Bearer " + TestServer.KEY);
            v.ws = b.buildAsync(URI.create(url), v).orTimeout(10, TimeUnit.SECONDS).join();
            return v;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            synchronized (this) {
                screen.writeBytes(b);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            synchronized (this) {
                texts.append(data).append('\n');
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closed.completeExceptionally(error);
        }

        synchronized String screen() {
            return screen.toString(StandardCharsets.UTF_8);
        }

        synchronized String texts() {
            return texts.toString();
        }

        void type(String keys) {
            ws.sendBinary(ByteBuffer.wrap(keys.getBytes(StandardCharsets.UTF_8)), true).join();
        }

        void control(String json) {
            ws.sendText(json, true).join();
        }

        void await(String text) {
            Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> screen().contains(text));
        }
    }

    @Test
    void aBrowserTerminalTypesReadsResizesAndOutlivesItsViewers() throws Exception {
        var created = srv.post("/v1/vms/" + vm + "/terminals", "{\"name\":\"main\",\"cols\":80,\"rows\":24}");
        assertThat(created.status()).as(created.body()).isEqualTo(200);
        assertThat(created.json().get("name").asText()).isEqualTo("main");
        assertThat(created.json().get("websocket").asText()).isEqualTo("/v1/vms/" + vm + "/terminals/main/ws");
        JsonNode list = srv.get("/v1/vms/" + vm + "/terminals").json();
        assertThat(list.get("terminals")).anySatisfy(t -> {
            assertThat(t.get("name").asText()).isEqualTo("main");
            assertThat(t.get("status").asText()).isEqualTo("running");
            assertThat(t.get("created").isTextual()).isTrue();
        });

        Viewer one = Viewer.attach("main", false);
        one.type("echo hi-$((40+2))\n");
        one.await("hi-42");
        one.control("{\"type\":\"input\",\"data\":\"stty size\\n\"}");
        one.await("24 80");
        one.control("{\"type\":\"resize\",\"cols\":120,\"rows\":40}");
        // the resize travels host pty -> SIGWINCH -> runc -> the container's terminal: ask until it arrived
        Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(300)).until(() -> {
            one.type("stty size\n");
            return one.screen().contains("40 120");
        });
        one.control("{\"type\":\"bogus\"}");
        Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> one.texts().contains("\"error\""));

        // a second viewer (browser-style, key in the query) gets the scrollback, then live output
        Viewer two = Viewer.attach("main", true);
        two.await("hi-42");
        one.ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").join();
        one.closed.get(10, TimeUnit.SECONDS);
        two.type("echo still-$((1+1))\n");
        two.await("still-2");
        assertThat(srv.get("/v1/vms/" + vm + "/terminals").json().get("terminals").get(0).get("status").asText())
                .isEqualTo("running");

        // the Freestyle routes
        JsonNode logs = srv.get("/v1/vms/" + vm + "/terminals/main/logs").json();
        assertThat(logs.get("logs")).anySatisfy(l -> {
            assertThat(l.get("line").asText()).isEqualTo("hi-42");
            assertThat(l.get("timestamp").isTextual()).isTrue();
        });
        assertThat(logs.get("logs").toString()).doesNotContain("\\u001b");
        String xterm = srv.get("/v1/vms/" + vm + "/terminals/main/xterm-256color").json().get("output").asText();
        assertThat(xterm).contains("hi-42").contains("still-2");

        // the shell ends: viewers get the exit frame and a normal close; the terminal is listed as exited
        two.type("exit 5\n");
        assertThat(two.closed.get(15, TimeUnit.SECONDS)).isEqualTo(1000);
        assertThat(two.texts()).contains("\"type\":\"exit\"").contains("\"exitCode\":5");
        assertThat(srv.get("/v1/vms/" + vm + "/terminals").json().get("terminals").get(0).get("status").asText())
                .isEqualTo("exited");
        assertThat(srv.delete("/v1/vms/" + vm + "/terminals/main").status()).isEqualTo(200);
        assertThat(srv.get("/v1/vms/" + vm + "/terminals/main/logs").status()).isEqualTo(404);
    }

    /**
     * A browser given an identity token (what it would use for SSH) attaches with it, when the identity may access the
     * VM as the terminal's user; the token opens nothing else: no other VM's terminal, no other route.
     */
    @Test
    void anIdentityTokenOpensTheTerminalsOfItsVmAsAllowedAndNothingElse() throws Exception {
        assertThat(srv.post("/v1/vms/" + vm + "/terminals", "{\"name\":\"shared\"}").status()).isEqualTo(200);
        String ok = identityToken(vm, "{}");
        String onlyNobody = identityToken(vm, "{\"allowedUsers\":[\"nobody\"]}");
        String other = srv.createVm("{}");
        String elsewhere = identityToken(other, "{}");

        Viewer v = Viewer.attach("shared", true, ok);
        v.type("echo via-$((40+2))\n");
        v.await("via-42");
        v.ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").join();

        String url = srv.url().replace("http://", "ws://") + "/v1/vms/" + vm + "/terminals/shared/ws?access_token=";
        for (String refused : List.of(onlyNobody, elsewhere)) {
            assertThatThrownBy(() -> HTTP.newWebSocketBuilder().buildAsync(URI.create(url + refused), new WebSocket.Listener() { })
                    .join()).cause().isInstanceOfSatisfying(WebSocketHandshakeException.class,
                            e -> assertThat(e.getResponse().statusCode()).isEqualTo(401));
        }
        // the identity token is no API key: plain routes refuse it
        var asKey = HTTP.send(java.net.http.HttpRequest.newBuilder(URI.create(srv.url() + "/v1/vms/" + vm))
                .header("Authorization", "Bearer " + ok).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(asKey.statusCode()).isEqualTo(401);
        assertThat(srv.delete("/v1/vms/" + vm + "/terminals/shared").status()).isEqualTo(200);
        assertThat(srv.delete("/v1/vms/" + other).status()).isEqualTo(200);
    }

    private static String identityToken(String vmId, String grant) {
        String identity = srv.post("/identity/v1/identities", null).json().get("id").asText();
        assertThat(srv.post("/identity/v1/identities/" + identity + "/permissions/vm/" + vmId, grant).status()).isEqualTo(200);
        return srv.post("/identity/v1/identities/" + identity + "/tokens", null).json().get("token").asText();
    }

    @Test
    void webSocketsNeedTheKeyAndAnExistingTerminal() throws Exception {
        String url = srv.url().replace("http://", "ws://") + "/v1/vms/" + vm + "/terminals/nope/ws";
        for (String u : List.of(url, url + "?access_token=wrong")) {
            assertThatThrownBy(() -> HTTP.newWebSocketBuilder().buildAsync(URI.create(u), new WebSocket.Listener() { }).join())
                    .isInstanceOf(CompletionException.class)
                    .cause().isInstanceOfSatisfying(WebSocketHandshakeException.class,
                            e -> assertThat(e.getResponse().statusCode()).isEqualTo(401));
        }
        Viewer v = Viewer.attach("nope", false);
        assertThat(v.closed.get(10, TimeUnit.SECONDS)).isEqualTo(4404);
    }

    @Test
    void badTerminalRequestsAre4xx() {
        String base = "/v1/vms/" + vm + "/terminals";
        assertThat(srv.post(base, "{\"name\":\"bad name!\"}").status()).isEqualTo(400);
        assertThat(srv.post(base, "{\"cols\":0}").status()).isEqualTo(400);
        assertThat(srv.post(base, "{").status()).isEqualTo(400);
        assertThat(srv.post(base, "{\"name\":\"x\",\"shell\":\"zsh\"}").status()).isEqualTo(400);
        var ok = srv.post(base, "{\"name\":\"dup\",\"command\":\"sleep 600\"}");
        assertThat(ok.status()).as(ok.body()).isEqualTo(200);
        var dup = srv.post(base, "{\"name\":\"dup\"}");
        assertThat(dup.status()).isEqualTo(409);
        assertThat(srv.get(base + "/none/logs").status()).isEqualTo(404);
        assertThat(srv.get(base + "/none/logs").json().get("error").asText()).isEqualTo("TERMINAL_NOT_FOUND");
        assertThat(srv.get(base + "/none/xterm-256color").status()).isEqualTo(404);
        assertThat(srv.delete(base + "/none").status()).isEqualTo(404);
        assertThat(srv.delete(base + "/dup").status()).isEqualTo(200);
        // an unnamed terminal gets a name
        var unnamed = srv.post(base, null);
        assertThat(unnamed.status()).as(unnamed.body()).isEqualTo(200);
        assertThat(srv.delete(base + "/" + unnamed.json().get("name").asText()).status()).isEqualTo(200);
    }
}
