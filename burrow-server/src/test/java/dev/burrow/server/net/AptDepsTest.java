package dev.burrow.server.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.store.VmQuery;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.HostInspection;
import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;

/**
 * {@code aptDeps} for real and without the internet: a package this test builds ({@code dpkg-deb}) in a flat apt
 * repository ({@code dpkg-scanpackages}) served from the test's outside namespace, a Debian VM whose sources point
 * at it, and apt run inside the VM through the VM's own network. A missing package, a policy that denies the
 * repository, an image without apt and malformed names all fail the create with a 400 and leave nothing.
 */
class AptDepsTest {
    private static final String PACKAGE = "burrow-test-hello";
    private static OutsideNetwork outside;
    private static TestServer server;
    private static Path build;
    private static String sources;

    @BeforeAll
    static void start() throws Exception {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("nft");
        HostRequirements.requireCommand("busybox");
        HostRequirements.requireCommand("dpkg-deb");
        HostRequirements.requireCommand("dpkg-scanpackages");
        outside = OutsideNetwork.create();
        build = Files.createTempDirectory("burrow-apt-test-");
        Path root = build.resolve("pkg");
        Files.createDirectories(root.resolve("DEBIAN"));
        Files.createDirectories(root.resolve("usr/share/" + PACKAGE));
        Files.writeString(root.resolve("DEBIAN/control"), "Package: " + PACKAGE + "\nVersion: 1.0-1\nArchitecture: all\n"
                + "Maintainer: Burrow tests <tests@example.invalid>\nDescription: a package made by AptDepsTest\n");
        Files.writeString(root.resolve("usr/share/" + PACKAGE + "/hello.txt"), "hello from apt\n");
        Path repo = outside.wwwDir().resolve("apt");
        Files.createDirectories(repo);
        OutsideNetwork.run("dpkg-deb", "--root-owner-group", "--build", root.toString(), repo.resolve(PACKAGE + "_1.0-1_all.deb").toString());
        ProcessBuilder scan = new ProcessBuilder("dpkg-scanpackages", "--multiversion", ".", "/dev/null").directory(repo.toFile())
                .redirectOutput(repo.resolve("Packages").toFile()).redirectError(ProcessBuilder.Redirect.DISCARD);
        assertThat(scan.start().waitFor()).isZero();
        assertThat(Files.readString(repo.resolve("Packages"))).contains("Package: " + PACKAGE);
        sources = "deb [trusted=yes] http://" + outside.address + ":" + outside.httpPort + "/apt ./\n";
        server = TestServer.start("builtin:debian", null,
                cfg -> cfg.withNetwork(new ServerConfig.Network(true, null, List.of(outside.dnsUpstream()), List.of(outside.link()))));
    }

    @AfterAll
    static void stop() throws IOException {
        if (server != null) server.close();
        if (outside != null) outside.close();
        if (build != null) {
            try (var s = Files.walk(build)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void packagesAreInstalledThroughTheVmsNetworkBeforeItRuns() throws IOException {
        String vm = server.createVm(create(List.of(PACKAGE, "burrow-test-hello=1.0-1"), null, null));
        try {
            JsonNode r = exec(vm, "cat /usr/share/" + PACKAGE + "/hello.txt; dpkg-query -W -f '${Version}\\n' " + PACKAGE);
            assertThat(r.get("stdout").asText()).as(r.toString()).isEqualTo("hello from apt\n1.0-1\n");
            // apt's log in the VM is removed once the install is done
            assertThat(exec(vm, "ls /var/tmp").get("stdout").asText()).as("apt log removed").doesNotContain("burrow-apt");
        } finally {
            server.delete("/v1/vms/" + vm);
        }
        assertThat(HostInspection.leftovers(vm, server.dataDir, server.server.nodeId())).isEmpty();
    }

    @Test
    void aFailedInstallFailsTheCreateWithAptsOutputAndLeavesNothing() {
        int before = vms();
        TestServer.Response missing = server.post("/v1/vms", create(List.of("burrow-test-missing"), null, null));
        assertThat(missing.status()).as(missing.toString()).isEqualTo(400);
        assertThat(missing.json().get("code").asText()).isEqualTo("APT_INSTALL_FAILED");
        assertThat(missing.json().get("message").asText()).contains("burrow-test-missing").contains("Unable to locate package");
        assertThat(vms()).isEqualTo(before);

        // the egress policy applies to apt: a deny-all VM cannot reach the repository
        TestServer.Response denied = server.post("/v1/vms", create(List.of(PACKAGE), "{\"egress\":\"deny-all\"}", null));
        assertThat(denied.status()).as(denied.toString()).isEqualTo(400);
        assertThat(denied.json().get("code").asText()).isEqualTo("APT_INSTALL_FAILED");
        assertThat(vms()).isEqualTo(before);

        // an image without apt-get
        TestServer.Response busybox = server.post("/v1/vms", create(List.of(PACKAGE), null, "builtin:busybox"));
        assertThat(busybox.status()).as(busybox.toString()).isEqualTo(400);
        assertThat(busybox.json().get("code").asText()).isEqualTo("APT_UNAVAILABLE");
        assertThat(busybox.json().get("message").asText()).contains("apt-get");
        assertThat(vms()).isEqualTo(before);
        assertNoVmNetworkLeft();
    }

    @Test
    void malformedNamesAreRefusedBeforeAnythingIsMade() {
        int before = vms();
        for (String bad : List.of("Upper", "a", "-o", "pkg;touch /tmp/x", "pkg name", "pkg=", "pkg=-1", "../x", "pkg\nother",
                "pkg=1.0 other", "$(id)")) {
            TestServer.Response r = server.post("/v1/vms", create(List.of(bad), null, null));
            assertThat(r.status()).as(bad + " -> " + r).isEqualTo(400);
            assertThat(r.json().get("code").asText()).as(bad).isEqualTo("CREATE_VM_BAD_REQUEST");
        }
        TestServer.Response nul = server.post("/v1/vms", "{\"aptDeps\":[null]}");
        assertThat(nul.status()).as(nul.toString()).isEqualTo(400);
        assertThat(vms()).isEqualTo(before);
    }

    private static String create(List<String> deps, String network, String image) {
        Map<String, Object> body = new java.util.LinkedHashMap<>();
        body.put("aptDeps", deps);
        body.put("additionalFiles", Map.of("/etc/apt/sources.list", Map.of("content",
                Base64.getEncoder().encodeToString(sources.getBytes(StandardCharsets.UTF_8)), "encoding", "base64")));
        if (image != null) body.put("image", image);
        try {
            if (network != null) body.put("network", Json.MAPPER.readTree(network));
            return Json.MAPPER.writeValueAsString(body);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int vms() {
        return server.server.lifecycle().list(VmQuery.all()).size();
    }

    private static void assertNoVmNetworkLeft() {
        try (var ns = Files.list(Path.of("/run/netns"))) {
            assertThat(ns.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("burrow-" + server.server.nodeId() + "-"))
                    .toList()).as("VM network namespaces left").isEmpty();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static JsonNode exec(String vm, String command) {
        String body;
        try {
            body = Json.MAPPER.writeValueAsString(Map.of("command", command, "timeoutMs", 60_000));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        TestServer.Response r = server.post("/v1/vms/" + vm + "/exec-await", body);
        assertThat(r.status()).as(r.toString()).isEqualTo(200);
        return r.json();
    }
}
