package dev.burrow.server.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;

/**
 * Exposed ports through the preview proxy, against web servers started inside a real VM: host-based and
 * path-based routing, private ports (token header, signed link and cookie) and public ones, a WebSocket-style
 * upgrade, waking a suspended VM, and activity.
 */
class VmPortsTest {
    private static TestServer server;

    @BeforeAll
    static void start() {
        HostRequirements.requireRunc();
        server = TestServer.start("builtin:busybox");
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    @Test
    void privateAndPublicPortsByHostAndByPath() throws Exception {
        String vm = server.createVm("{\"ports\":[{\"port\":443,\"targetPort\":3000},{\"port\":8081,\"targetPort\":8081,\"public\":true}]}");
        serveInVm(vm);
        JsonNode ports = server.get("/v1/vms/" + vm + "/ports").json().get("ports");
        assertThat(ports).hasSize(2);
        JsonNode priv = ports.get(0);
        assertThat(priv.get("public").asBoolean()).isFalse();
        String token = priv.get("token").asText();
        assertThat(token).isNotBlank();
        assertThat(priv.get("url").asText()).startsWith("http://443-" + vm + ".localhost:");
        assertThat(ports.get(1).has("token")).isFalse();

        String host = "443-" + vm + ".localhost";
        assertThat(request(host, "/index.html", List.of())).startsWith("HTTP/1.1 401");
        assertThat(request(host, "/index.html", List.of("X-Burrow-Preview-Token: wrong"))).startsWith("HTTP/1.1 401");
        String ok = request(host, "/index.html", List.of("X-Burrow-Preview-Token: " + token));
        assertThat(ok).startsWith("HTTP/1.").contains(" 200 ").contains("preview-" + vm);

        // public: no token needed
        assertThat(request("8081-" + vm + ".localhost", "/index.html", List.of())).contains(" 200 ").contains("preview-" + vm);
        // a port the VM does not expose, and a VM that does not exist
        assertThat(request("9999-" + vm + ".localhost", "/", List.of())).startsWith("HTTP/1.1 404");
        assertThat(request("443-zzzzzzzzzzzzzzzzzzzz.localhost", "/", List.of())).startsWith("HTTP/1.1 404");

        // path fallback: a signed link sets a cookie and redirects without the token
        String signed = request("127.0.0.1", "/vm/" + vm + "/443/index.html?burrow_token=" + token, List.of());
        assertThat(signed).startsWith("HTTP/1.1 302").contains("Location: /vm/" + vm + "/443/index.html")
                .contains("Set-Cookie: burrow_preview=" + token);
        assertThat(request("127.0.0.1", "/vm/" + vm + "/443/index.html", List.of())).startsWith("HTTP/1.1 401");
        String withCookie = request("127.0.0.1", "/vm/" + vm + "/443/index.html", List.of("Cookie: a=b; burrow_preview=" + token));
        assertThat(withCookie).contains(" 200 ").contains("preview-" + vm);
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
    }

    @Test
    void upgradedConnectionsPassThroughBothWays() throws Exception {
        String vm = server.createVm("{\"ports\":[{\"port\":9000,\"targetPort\":9000,\"public\":true}]}");
        // a minimal upgrade endpoint: read the request head, answer 101, then echo whatever comes
        String script = "#!/bin/sh\n"
                + "while IFS= read -r l; do l=$(printf %s \"$l\" | tr -d '\\r'); [ -z \"$l\" ] && break; done\n"
                + "printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'\n"
                + "exec cat\n";
        try {
            TestServer.Response w = server.put("/v1/vms/" + vm + "/files/%2Fws.sh",
                    Json.MAPPER.writeValueAsString(java.util.Map.of("content", script, "encoding", "utf8")));
            assertThat(w.status()).as(w.toString()).isEqualTo(200);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        // returns once the listener is there (9000 = 0x2328, state 0A = LISTEN in /proc/net/tcp or tcp6)
        exec(vm, "chmod +x /ws.sh && (setsid nc -ll -p 9000 -e /ws.sh >/dev/null 2>&1 &) ; "
                + "until cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':2328 [0-9A-F]*:0000 0A'; do sleep 0.05; done");
        try (Socket s = new Socket("127.0.0.1", proxyPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET /socket HTTP/1.1\r\nHost: 9000-" + vm + ".localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            String head = readHead(in);
            assertThat(head).startsWith("HTTP/1.1 101");
            for (String msg : List.of("ping-1\n", "ping-2\n")) {
                out.write(msg.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                byte[] back = in.readNBytes(msg.length());
                assertThat(new String(back, StandardCharsets.US_ASCII)).isEqualTo(msg);
            }
        }
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
    }

    @Test
    void aRequestWakesASuspendedVmAndCountsAsActivity() throws Exception {
        String vm = server.createVm("{\"ports\":[{\"port\":443,\"targetPort\":3000,\"public\":true}]}");
        serveInVm(vm);
        assertThat(server.post("/v1/vms/" + vm + "/suspend", null).status()).isEqualTo(200);
        Instant before = Instant.parse(server.get("/v1/vms/" + vm).json().get("lastActivityAt").asText());
        Thread.sleep(20);
        String r = request("443-" + vm + ".localhost", "/index.html", List.of());
        assertThat(r).contains(" 200 ").contains("preview-" + vm);
        JsonNode info = server.get("/v1/vms/" + vm).json();
        assertThat(info.get("status").asText()).isEqualTo("running");
        assertThat(Instant.parse(info.get("lastActivityAt").asText())).isAfter(before);
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
    }

    @Test
    void badPortsAreRefused() {
        for (String bad : List.of("{\"ports\":[{\"port\":0,\"targetPort\":3000}]}", "{\"ports\":[{\"port\":443}]}",
                "{\"ports\":[{\"port\":443,\"targetPort\":3000},{\"port\":443,\"targetPort\":3001}]}",
                "{\"ports\":[{\"port\":443,\"targetPort\":70000}]}", "{\"ports\":[{\"port\":\"x\",\"targetPort\":1}]}")) {
            TestServer.Response r = server.post("/v1/vms", bad);
            assertThat(r.status()).as(bad + " -> " + r).isEqualTo(400);
            assertThat(r.json().get("code").asText()).isEqualTo("INVALID_PORTS");
        }
        assertThat(server.get("/v1/vms").json().toString()).doesNotContain("\"creating\"");
    }

    @Test
    void withoutPortsAVmExposes3000As443AndAnEmptyListExposesNothing() {
        String vm = server.createVm("{}");
        JsonNode ports = server.get("/v1/vms/" + vm + "/ports").json().get("ports");
        assertThat(ports).hasSize(1);
        assertThat(ports.get(0).get("port").asInt()).isEqualTo(443);
        assertThat(ports.get(0).get("targetPort").asInt()).isEqualTo(3000);
        assertThat(ports.get(0).get("public").asBoolean()).isFalse();
        String none = server.createVm("{\"ports\":[]}");
        assertThat(server.get("/v1/vms/" + none + "/ports").json().get("ports")).isEmpty();
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        assertThat(server.delete("/v1/vms/" + none).status()).isEqualTo(200);
    }

    // ---- helpers ----

    private static void serveInVm(String vm) {
        exec(vm, "mkdir -p /www && echo preview-" + vm + " > /www/index.html && httpd -p 3000 -h /www && httpd -p 8081 -h /www");
    }

    private static int proxyPort() {
        return server.server.previewProxy().port();
    }

    /** One HTTP/1.1 request to the proxy with {@code Connection: close}; the whole response as text. */
    private static String request(String host, String path, List<String> headers) throws IOException {
        try (Socket s = new Socket("127.0.0.1", proxyPort())) {
            s.setSoTimeout(30_000);
            StringBuilder req = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n");
            for (String h : headers) req.append(h).append("\r\n");
            req.append("\r\n");
            s.getOutputStream().write(req.toString().getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** An HTTP response head, read byte by byte up to the blank line, so the stream is left at the body (or frames). */
    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        while (true) {
            int c = in.read();
            if (c < 0) break;
            b.write(c);
            String s = b.toString(StandardCharsets.US_ASCII);
            if (s.endsWith("\r\n\r\n")) return s;
        }
        return b.toString(StandardCharsets.US_ASCII);
    }

    private static JsonNode exec(String vm, String command) {
        try {
            TestServer.Response r = server.post("/v1/vms/" + vm + "/exec-await",
                    Json.MAPPER.writeValueAsString(java.util.Map.of("command", command, "timeoutMs", 30_000)));
            assertThat(r.status()).as(r.toString()).isEqualTo(200);
            assertThat(r.json().get("statusCode").asInt()).as(r.toString()).isZero();
            return r.json();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
