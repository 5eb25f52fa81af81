package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.OciImages;
import dev.burrow.driver.runc.testing.TestRegistry;

/**
 * A VM from an image in a private registry (Debian's docker-registry on loopback behind basic auth): the
 * server pulls it with the credentials of --registry-auth-file; without them the create is refused with
 * a clear error and leaves nothing behind.
 */
class PrivateRegistryTest {

    @Test
    void createsFromAPrivateRegistryWithCredentialsAndRefusesWithout() throws Exception {
        HostRequirements.requireCommand("htpasswd");
        Path layout = Files.createTempDirectory("burrow-layout-");
        Path authFile = null;
        try (TestRegistry registry = TestRegistry.startWithAuth("burrow", "s3cret-" + System.nanoTime())) {
            OciImages.buildBusyboxLayout(layout.resolve("oci"), "v1");
            String ref = registry.ref("team/tools:v1");
            OciImages.pushToRegistry(layout.resolve("oci"), "v1", ref, registry.credentials());
            authFile = OciImages.writeAuthFile(registry.hostPort(), registry.credentials());
            Path auth = authFile;

            try (TestServer anonymous = TestServer.start("builtin:busybox")) {
                var refused = anonymous.post("/v1/vms", "{\"image\":\"" + ref + "\"}");
                assertThat(refused.status()).as(refused.body()).isBetween(400, 599);
                assertThat(refused.body()).containsAnyOf("unauthorized", "authentication", "401", "denied");
                assertThat(anonymous.get("/v1/vms").json().get("totalCount").asInt()).isZero();
                // no VM ever existed, yet the failed pull counts as a failed create (the alert sees it)
                String metrics = anonymous.call("GET", "/metrics", null, null).body();
                assertThat(metrics).contains("burrow_vm_create_total{status=\"failure\",type=\"default\"} 1.0");
            }
            try (TestServer srv = TestServer.start("builtin:busybox", null,
                    cfg -> cfg.withRegistries(new ServerConfig.Registries(auth, null)))) {
                String id = srv.createVm("{\"image\":\"" + ref + "\"}");
                assertThat(srv.get("/v1/vms/" + id).json().get("image").asText()).isEqualTo(ref);
                var r = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo from-private-registry\"}").json();
                assertThat(r.get("stdout").asText()).isEqualTo("from-private-registry\n");
                assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
                assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
            }
        } finally {
            if (authFile != null) Files.deleteIfExists(authFile);
            CrashRecoveryTest.deleteTree(layout);
        }
    }
}
