package dev.burrow.server.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.HostInspection;
import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;

/**
 * Custom domains through the preview proxy, against web servers in real VMs: routing by Host over HTTP and HTTPS
 * (per-domain certificates picked by SNI, made with openssl at test time, checked by curl and by JSSE), WebSocket-style
 * upgrades over TLS, one VM per domain, bad domains, the mapping routes, mappings freed on delete and kept across a
 * restart, the operator's allowed suffixes, and lastNetworkActivity.
 */
class VmDomainsTest {
    private static TestServer server;
    private static Path certs;

    @BeforeAll
    static void start() throws Exception {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("openssl");
        HostRequirements.requireCommand("curl");
        certs = Files.createTempDirectory("burrow-certs-");
        Path dir = Files.createDirectories(certs.resolve("by-domain"));
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=Burrow Test CA");
        // the default certificate covers *.burrow.test; its RSA key in PKCS#1 form ("BEGIN RSA PRIVATE KEY")
        leaf("default", "default.burrow.test", "DNS:*.burrow.test", "rsa:2048");
        openssl("rsa", "-in", "default.key", "-traditional", "-out", "default-pkcs1.key");
        assertThat(Files.readString(certs.resolve("default-pkcs1.key"))).contains("BEGIN RSA PRIVATE KEY");
        // a certificate of its own for one domain, an EC key in PKCS#8
        leaf("app1", "app1.burrow.test", "DNS:app1.burrow.test", "ec");
        Files.copy(certs.resolve("app1.crt"), dir.resolve("app1.burrow.test.crt"));
        Files.copy(certs.resolve("app1.key"), dir.resolve("app1.burrow.test.key"));
        // and a wildcard one for the names under wild.burrow.test
        leaf("wild", "wild.burrow.test", "DNS:*.wild.burrow.test", "rsa:2048");
        Files.copy(certs.resolve("wild.crt"), dir.resolve("*.wild.burrow.test.crt"));
        Files.copy(certs.resolve("wild.key"), dir.resolve("*.wild.burrow.test.key"));
        server = TestServer.start("builtin:busybox", null, tls());
    }

    @AfterAll
    static void stop() throws IOException {
        if (server != null) server.close();
        if (certs != null) {
            try (var s = Files.walk(certs)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static UnaryOperator<ServerConfig> tls() {
        return cfg -> cfg.withPreview(ServerConfig.Preview.defaults().withTls(new ServerConfig.Tls(0,
                certs.resolve("default.crt"), certs.resolve("default-pkcs1.key"), certs.resolve("by-domain"))));
    }

    @Test
    void aCustomDomainReachesTheVmOverHttpAndHttpsWithTheCertificateItsNamePicks() throws Exception {
        String vm = server.createVm("{\"domains\":[{\"domain\":\"App1.Burrow.Test.\",\"vmPort\":3000}]}");
        serveInVm(vm, 3000);
        // public over the domain, while the same port stays private on its preview address
        assertThat(http("app1.burrow.test", "/index.html")).contains(" 200 ").contains("site-" + vm);
        assertThat(http("127.0.0.1", "/vm/" + vm + "/443/index.html")).startsWith("HTTP/1.1 401");
        assertThat(http("nothing-mapped.burrow.test", "/")).startsWith("HTTP/1.1 404");

        // HTTPS, a real client checking the chain and the name
        int tlsPort = server.server.previewProxy().tlsPort();
        assertThat(tlsPort).isPositive();
        assertThat(curl("app1.burrow.test", tlsPort, "/index.html")).isEqualTo("site-" + vm + "\n");
        // SNI picks the domain's own certificate; a name without one gets the default
        assertThat(servedSubject("app1.burrow.test", tlsPort)).contains("CN=app1.burrow.test");
        JsonNode mapped = server.post("/domains/v1/mappings/other.burrow.test", "{\"vmId\":\"" + vm + "\"}").json();
        assertThat(mapped.get("vmPort").asInt()).as("vmPort defaults to 443").isEqualTo(443);
        assertThat(servedSubject("other.burrow.test", tlsPort)).contains("CN=default.burrow.test");
        assertThat(servedSubject("x.wild.burrow.test", tlsPort)).contains("CN=wild.burrow.test");
        assertThat(servedSubject("y.x.wild.burrow.test", tlsPort)).as("a wildcard covers one label")
                .contains("CN=default.burrow.test");
        // 443 is the VM's exposed port 443 (Freestyle's default 443 -> 3000)
        assertThat(curl("other.burrow.test", tlsPort, "/index.html")).isEqualTo("site-" + vm + "\n");

        // the ports listing names both domains with their URLs, and the HTTPS preview address of each port
        JsonNode listing = server.get("/v1/vms/" + vm + "/ports").json();
        int plainPort = server.server.previewProxy().port();
        List<String> domainUrls = new java.util.ArrayList<>();
        listing.get("domains").forEach(d -> domainUrls.add(d.get("domain").asText() + " " + d.get("vmPort").asInt() + " "
                + d.get("url").asText() + " " + d.get("httpsUrl").asText()));
        assertThat(domainUrls).containsExactlyInAnyOrder(
                "app1.burrow.test 3000 http://app1.burrow.test:" + plainPort + "/ https://app1.burrow.test:" + tlsPort + "/",
                "other.burrow.test 443 http://other.burrow.test:" + plainPort + "/ https://other.burrow.test:" + tlsPort + "/");
        JsonNode port443 = listing.get("ports").get(0);
        assertThat(port443.get("httpsUrl").asText()).isEqualTo("https://443-" + vm + ".localhost:" + tlsPort + "/");
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(vm, server.dataDir, server.server.nodeId())).isEmpty();
    }

    @Test
    void upgradesPassThroughOverTls() throws Exception {
        String vm = server.createVm("{\"ports\":[],\"domains\":[{\"domain\":\"ws.burrow.test\",\"vmPort\":9000}]}");
        String script = "#!/bin/sh\n"
                + "while IFS= read -r l; do l=$(printf %s \"$l\" | tr -d '\\r'); [ -z \"$l\" ] && break; done\n"
                + "printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'\n"
                + "exec cat\n";
        TestServer.Response w = server.put("/v1/vms/" + vm + "/files/%2Fws.sh",
                Json.MAPPER.writeValueAsString(Map.of("content", script, "encoding", "utf8")));
        assertThat(w.status()).as(w.toString()).isEqualTo(200);
        // returns once the listener is there (9000 = 0x2328, state 0A = LISTEN in /proc/net/tcp or tcp6)
        exec(vm, "chmod +x /ws.sh && (setsid nc -ll -p 9000 -e /ws.sh >/dev/null 2>&1 &) ; "
                + "until cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':2328 [0-9A-F]*:0000 0A'; do sleep 0.05; done");
        try (SSLSocket s = tlsSocket("ws.burrow.test", server.server.previewProxy().tlsPort())) {
            OutputStream out = s.getOutputStream();
            out.write(("GET /socket HTTP/1.1\r\nHost: ws.burrow.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            assertThat(VmPortsTest.readHead(in)).startsWith("HTTP/1.1 101");
            for (String msg : List.of("over-tls-1\n", "over-tls-2\n")) {
                out.write(msg.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                assertThat(new String(in.readNBytes(msg.length()), StandardCharsets.US_ASCII)).isEqualTo(msg);
            }
        }
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
    }

    @Test
    void aDomainBelongsToOneVmAndBadDomainsAreRefused() throws Exception {
        String vm = server.createVm("{\"domains\":[{\"domain\":\"taken.burrow.test\"}]}");
        int vmsBefore = server.get("/v1/vms").json().get("vms").size();
        TestServer.Response second = server.post("/v1/vms", "{\"domains\":[{\"domain\":\"taken.burrow.test\",\"vmPort\":80}]}");
        assertThat(second.status()).as(second.toString()).isEqualTo(409);
        assertThat(second.json().get("code").asText()).isEqualTo("DOMAIN_ALREADY_MAPPED");
        assertThat(server.get("/v1/vms").json().get("vms").size()).as("the refused create made no VM").isEqualTo(vmsBefore);

        // an idempotent replay gets its VM (with its domain), not a conflict; another create with a key still does not
        String body = "{\"domains\":[{\"domain\":\"replay.burrow.test\"}]}";
        TestServer.Response once = server.call("POST", "/v1/vms", body, TestServer.KEY, Map.of("Idempotency-Key", "dom-1"));
        assertThat(once.status()).as(once.toString()).isEqualTo(200);
        TestServer.Response again = server.call("POST", "/v1/vms", body, TestServer.KEY, Map.of("Idempotency-Key", "dom-1"));
        assertThat(again.status()).as(again.toString()).isEqualTo(200);
        assertThat(again.json().get("id").asText()).isEqualTo(once.json().get("id").asText());
        assertThat(once.json().get("domains").toString()).isEqualTo("[\"replay.burrow.test\"]");
        assertThat(again.json().get("domains").toString()).isEqualTo("[\"replay.burrow.test\"]");
        TestServer.Response keyed = server.call("POST", "/v1/vms", "{\"domains\":[{\"domain\":\"replay.burrow.test\",\"vmPort\":1}]}",
                TestServer.KEY, Map.of("Idempotency-Key", "dom-2"));
        assertThat(keyed.status()).as(keyed.toString()).isEqualTo(409);
        assertThat(keyed.json().get("code").asText()).isEqualTo("DOMAIN_ALREADY_MAPPED");
        assertThat(server.get("/domains/v1/mappings?domain=replay.burrow.test").json().get(0).get("vmId").asText())
                .isEqualTo(once.json().get("id").asText());
        assertThat(server.delete("/v1/vms/" + once.json().get("id").asText()).status()).isEqualTo(200);
        assertThat(server.get("/v1/vms").json().get("vms").size()).as("the keyed conflict left no VM").isEqualTo(vmsBefore);

        String other = server.createVm("{}");
        TestServer.Response steal = server.post("/domains/v1/mappings/taken.burrow.test", "{\"vmId\":\"" + other + "\"}");
        assertThat(steal.status()).as(steal.toString()).isEqualTo(409);
        assertThat(steal.json().get("code").asText()).isEqualTo("DOMAIN_ALREADY_MAPPED");
        // the owner may change its port
        JsonNode moved = server.post("/domains/v1/mappings/taken.burrow.test", "{\"vmId\":\"" + vm + "\",\"vmPort\":8080}").json();
        assertThat(moved.get("vmPort").asInt()).isEqualTo(8080);
        assertThat(moved.get("vmId").asText()).isEqualTo(vm);

        for (String bad : List.of("\"\"", "\"nodot\"", "\"-bad.burrow.test\"", "\"a..burrow.test\"", "\"10.0.0.1\"",
                "\"*.burrow.test\"", "\"under_score.burrow.test\"", "\"" + "x".repeat(64) + ".burrow.test\"", "42")) {
            TestServer.Response r = server.post("/v1/vms", "{\"domains\":[{\"domain\":" + bad + "}]}");
            assertThat(r.status()).as(bad + " -> " + r).isEqualTo(400);
            assertThat(r.json().get("code").asText()).as(bad).isEqualTo("INVALID_DOMAIN");
        }
        for (String bad : List.of("{\"domains\":[{\"domain\":\"p.burrow.test\",\"vmPort\":0}]}",
                "{\"domains\":[{\"domain\":\"p.burrow.test\",\"vmPort\":\"x\"}]}",
                "{\"domains\":[{\"domain\":\"p.burrow.test\"},{\"domain\":\"P.burrow.test\"}]}",
                "{\"domains\":[null]}", "{\"domains\":[{\"domain\":\"p.burrow.test\",\"port\":1}]}")) {
            TestServer.Response r = server.post("/v1/vms", bad);
            assertThat(r.status()).as(bad + " -> " + r).isEqualTo(400);
            assertThat(r.json().get("code").asText()).as(bad).isEqualTo("INVALID_DOMAIN");
        }
        // the preview domain's own names are the proxy's
        TestServer.Response reserved = server.post("/v1/vms", "{\"domains\":[{\"domain\":\"app.localhost\"}]}");
        assertThat(reserved.status()).isEqualTo(400);
        assertThat(reserved.json().get("code").asText()).isEqualTo("DOMAIN_NOT_ALLOWED");
        assertThat(server.get("/v1/vms").json().get("vms").size()).as("no bad create made a VM").isEqualTo(vmsBefore + 1);

        // the mapping routes' own refusals
        assertThat(server.post("/domains/v1/mappings/q.burrow.test", "{}").status()).isEqualTo(400);
        assertThat(server.post("/domains/v1/mappings/q.burrow.test", "{\"deploymentId\":\"d\"}").json().get("code").asText())
                .isEqualTo("UNSUPPORTED_FIELD");
        assertThat(server.post("/domains/v1/mappings/q.burrow.test", "{\"vmId\":\"zzzzzzzzzzzzzzzzzzzz\"}").status()).isEqualTo(404);
        assertThat(server.post("/domains/v1/mappings/bad_name", "{\"vmId\":\"" + vm + "\"}").status()).isEqualTo(400);
        assertThat(server.delete("/domains/v1/mappings/q.burrow.test").status()).isEqualTo(404);
        assertThat(server.get("/domains/v1/mappings?domain=q.burrow.test").json()).isEmpty();

        // the routes and fields are in the API description
        String openapi = server.get("/openapi.json").body();
        assertThat(openapi).contains("\"/domains/v1/mappings\"").contains("\"/domains/v1/mappings/{domain}\"")
                .contains("DomainMappingInfo").contains("\"lastNetworkActivity\"");

        // the SDK's mapping shape
        JsonNode list = server.get("/domains/v1/mappings?domain=taken.burrow.test").json();
        assertThat(list.isArray()).isTrue();
        assertThat(list).hasSize(1);
        JsonNode m = list.get(0);
        assertThat(m.get("domain").asText()).isEqualTo("taken.burrow.test");
        assertThat(m.get("vmId").asText()).isEqualTo(vm);
        assertThat(m.get("vmPort").asInt()).isEqualTo(8080);
        assertThat(m.get("id").asText()).isNotBlank();
        assertThat(m.get("ownershipId").asText()).isEqualTo("taken.burrow.test");
        assertThat(Instant.parse(m.get("createdAt").asText())).isBeforeOrEqualTo(Instant.now());
        assertThat(m.has("deploymentId") && m.get("deploymentId").isNull()).isTrue();
        assertThat(m.has("unmappedAt") && m.get("unmappedAt").isNull()).isTrue();

        assertThat(server.delete("/domains/v1/mappings/taken.burrow.test").json().size()).isZero();
        assertThat(server.post("/domains/v1/mappings/taken.burrow.test", "{\"vmId\":\"" + other + "\",\"vmPort\":80}").status())
                .as("an unmapped domain is free again").isEqualTo(200);
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        assertThat(server.delete("/v1/vms/" + other).status()).isEqualTo(200);
        assertThat(server.get("/domains/v1/mappings?domain=taken.burrow.test").json()).as("deleting the VM unmaps").isEmpty();
    }

    @Test
    void mappingsSurviveARestartAreFreedOnDeleteAndHonourTheAllowedSuffixes() throws Exception {
        Path data = Files.createTempDirectory("burrow-srv-");
        UnaryOperator<ServerConfig> allowed = cfg -> cfg.withPreview(ServerConfig.Preview.defaults()
                .withAllowedDomainSuffixes(List.of("allowed.test")));
        TestServer first = TestServer.start("builtin:busybox", data, allowed);
        String vm;
        try {
            TestServer.Response refused = first.post("/v1/vms", "{\"domains\":[{\"domain\":\"app.elsewhere.test\"}]}");
            assertThat(refused.status()).as(refused.toString()).isEqualTo(400);
            assertThat(refused.json().get("code").asText()).isEqualTo("DOMAIN_NOT_ALLOWED");
            vm = first.createVm("{\"domains\":[{\"domain\":\"app.allowed.test\",\"vmPort\":3000}]}");
            serveInVm(first, vm, 3000);
            assertThat(http(first, "app.allowed.test", "/index.html")).contains(" 200 ").contains("site-" + vm);
        } finally {
            first.server.close(); // stop only: the VM keeps running, the data dir is reused
        }
        try (TestServer again = TestServer.start("builtin:busybox", data, allowed)) {
            JsonNode list = again.get("/domains/v1/mappings").json();
            assertThat(list).hasSize(1);
            assertThat(list.get(0).get("vmId").asText()).isEqualTo(vm);
            assertThat(list.get(0).get("ownershipId").asText()).isEqualTo("allowed.test");
            assertThat(http(again, "app.allowed.test", "/index.html")).contains(" 200 ").contains("site-" + vm);
            assertThat(again.delete("/v1/vms/" + vm).status()).isEqualTo(200);
            assertThat(again.get("/domains/v1/mappings").json()).isEmpty();
            assertThat(http(again, "app.allowed.test", "/index.html")).startsWith("HTTP/1.1 404");
            String next = again.createVm("{\"domains\":[{\"domain\":\"app.allowed.test\"}]}");
            assertThat(again.get("/domains/v1/mappings").json().get(0).get("vmId").asText()).isEqualTo(next);
            assertThat(again.delete("/v1/vms/" + next).status()).isEqualTo(200);
            assertThat(HostInspection.leftovers(vm, again.dataDir, again.server.nodeId())).isEmpty();
            assertThat(HostInspection.leftovers(next, again.dataDir, again.server.nodeId())).isEmpty();
        }
    }

    @Test
    void lastNetworkActivityIsNullUntilProxiedTrafficThenMovesAtMostEveryFewSeconds() throws Exception {
        String vm = server.createVm("{\"ports\":[{\"port\":8080,\"targetPort\":3000,\"public\":true}]}");
        serveInVm(vm, 3000);
        JsonNode before = server.get("/v1/vms/" + vm).json();
        assertThat(before.path("lastNetworkActivity").isMissingNode() || before.get("lastNetworkActivity").isNull())
                .as(before.toString()).isTrue();
        Instant sent = Instant.now();
        assertThat(http("8080-" + vm + ".localhost", "/index.html")).contains(" 200 ");
        Instant first = awaitNetworkActivity(vm, null);
        assertThat(first).isAfterOrEqualTo(sent.minusMillis(5)).isBeforeOrEqualTo(Instant.now());
        // the list carries it too
        JsonNode listed = null;
        for (JsonNode v : server.get("/v1/vms").json().get("vms")) if (v.get("id").asText().equals(vm)) listed = v;
        assertThat(listed).isNotNull();
        assertThat(Instant.parse(listed.get("lastNetworkActivity").asText())).isEqualTo(first);
        // throttled: more traffic at once is not another write
        assertThat(http("8080-" + vm + ".localhost", "/index.html")).contains(" 200 ");
        Thread.sleep(500);
        assertThat(Instant.parse(server.get("/v1/vms/" + vm).json().get("lastNetworkActivity").asText())).isEqualTo(first);
        // after the interval it moves again
        Thread.sleep(5_000);
        assertThat(http("8080-" + vm + ".localhost", "/index.html")).contains(" 200 ");
        Instant second = awaitNetworkActivity(vm, first);
        assertThat(second).isAfter(first.plusSeconds(4));
        // and counts as activity for idle suspend
        assertThat(Instant.parse(server.get("/v1/vms/" + vm).json().get("lastActivityAt").asText())).isAfterOrEqualTo(second);
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
    }

    @Test
    void theVmsOwnTrafficSetsLastNetworkActivityButIdleChatterDoesNot() throws Exception {
        String vm = server.createVm("{\"ports\":[]}");
        Thread.sleep(11_000); // two sampler passes: a baseline and one that finds nothing worth counting
        JsonNode idle = server.get("/v1/vms/" + vm).json();
        assertThat(idle.path("lastNetworkActivity").isMissingNode() || idle.get("lastNetworkActivity").isNull())
                .as(idle.toString()).isTrue();
        Instant sent = Instant.now();
        // ~11 KiB of pings to the gateway (the VM's DNS server): counted by the VM's interface whatever the answer
        exec(vm, "gw=$(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf); ping -c 8 -i 0.2 -s 1400 -W 2 $gw >/dev/null; true");
        Instant at = awaitNetworkActivity(vm, null);
        assertThat(at).isAfter(sent.minusSeconds(1));
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
    }

    // ---- helpers ----

    private static Instant awaitNetworkActivity(String vm, Instant after) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            JsonNode v = server.get("/v1/vms/" + vm).json().get("lastNetworkActivity");
            if (v != null && !v.isNull()) {
                Instant at = Instant.parse(v.asText());
                if (after == null || at.isAfter(after)) return at;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("lastNetworkActivity of " + vm + " did not move past " + after);
    }

    private static void leaf(String name, String cn, String san, String keyType) throws Exception {
        Files.writeString(certs.resolve(name + ".ext"), "subjectAltName=" + san + "\n");
        List<String> req = new ArrayList<>(List.of("req", "-newkey", keyType));
        if (keyType.equals("ec")) req.addAll(List.of("-pkeyopt", "ec_paramgen_curve:prime256v1"));
        req.addAll(List.of("-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn));
        openssl(req.toArray(String[]::new));
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext");
    }

    private static void openssl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(certs.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(String.join(" ", cmd) + "\n" + out).isZero();
    }

    private static String curl(String host, int port, String path) throws Exception {
        Process p = new ProcessBuilder("curl", "-sS", "--fail", "--max-time", "20", "--cacert", certs.resolve("ca.pem").toString(),
                "--resolve", host + ":" + port + ":127.0.0.1", "https://" + host + ":" + port + path)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("curl https://" + host + path).isZero();
        return out;
    }

    private static SSLSocket tlsSocket(String sni, int port) throws Exception {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (var in = Files.newInputStream(certs.resolve("ca.pem"))) {
            trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port);
        s.setSoTimeout(20_000);
        SSLParameters params = s.getSSLParameters();
        params.setServerNames(List.of(new SNIHostName(sni)));
        s.setSSLParameters(params);
        s.startHandshake();
        return s;
    }

    private static String servedSubject(String sni, int port) throws Exception {
        try (SSLSocket s = tlsSocket(sni, port)) {
            return ((X509Certificate) s.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName();
        }
    }

    private static void serveInVm(String vm, int port) {
        serveInVm(server, vm, port);
    }

    private static void serveInVm(TestServer srv, String vm, int port) {
        exec(srv, vm, "mkdir -p /site && echo site-" + vm + " > /site/index.html && httpd -p " + port + " -h /site");
    }

    private static String http(String host, String path) throws IOException {
        return http(server, host, path);
    }

    /** One plain HTTP/1.1 request to the proxy with {@code Connection: close}; the whole response as text. */
    private static String http(TestServer srv, String host, String path) throws IOException {
        try (Socket s = new Socket("127.0.0.1", srv.server.previewProxy().port())) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void exec(String vm, String command) {
        exec(server, vm, command);
    }

    private static void exec(TestServer srv, String vm, String command) {
        try {
            TestServer.Response r = srv.post("/v1/vms/" + vm + "/exec-await",
                    Json.MAPPER.writeValueAsString(Map.of("command", command, "timeoutMs", 30_000)));
            assertThat(r.status()).as(r.toString()).isEqualTo(200);
            assertThat(r.json().get("statusCode").asInt()).as(r.toString()).isZero();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
