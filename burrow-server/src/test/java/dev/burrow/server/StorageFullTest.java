package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The VM storage pool runs full (a 400 MiB btrfs pool, one VM writing 1 GiB): the writing VM gets ENOSPC,
 * the server and the other VMs keep working, deleting the hog gives the space back, and nothing is left
 * behind. The store lives outside the pool, so bookkeeping never competes with VM data for space.
 */
class StorageFullTest {

    @Test
    void aFullStoragePoolFailsWritesCleanlyAndRecoversOnDelete() {
        try (TestServer srv = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withStorage(new ServerConfig.Storage("btrfs", 400)))) {
            String bystander = srv.createVm("{}");
            String hog = srv.createVm("{}");
            var fill = srv.post("/v1/vms/" + hog + "/exec-await",
                    "{\"command\":\"dd if=/dev/zero of=/root/fill bs=1M count=1024; rc=$?; sync; exit $rc\",\"timeoutMs\":120000}").json();
            assertThat(fill.get("statusCode").asInt()).as(fill.toString()).isNotZero();
            assertThat(fill.get("stderr").asText()).containsIgnoringCase("no space left");

            // the server is healthy and answers about every VM
            assertThat(srv.get("/v1/vms").status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + bystander + "/exec-await", "{\"command\":\"echo alive\"}").json()
                    .get("stdout").asText()).isEqualTo("alive\n");
            // a create while the pool is full either works or fails cleanly, never half-made
            var extra = srv.post("/v1/vms", "{}");
            assertThat(extra.status()).as(extra.body()).isIn(200, 500, 507);
            if (extra.status() == 200) srv.delete("/v1/vms/" + extra.json().get("id").asText());

            assertThat(srv.delete("/v1/vms/" + hog).status()).isEqualTo(200);
            assertThat(HostInspection.leftovers(hog, srv.dataDir, srv.server.nodeId())).isEmpty();
            // space comes back (btrfs frees a deleted subvolume's extents in its cleaner, shortly after the
            // delete returns): the bystander can write again
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60)).pollInterval(java.time.Duration.ofSeconds(1))
                    .until(() -> srv.post("/v1/vms/" + bystander + "/exec-await",
                            "{\"command\":\"rm -f /root/ok; dd if=/dev/zero of=/root/ok bs=1M count=50 2>&1 && sync && echo wrote\"}")
                            .json().get("stdout").asText().contains("wrote"));
            assertThat(srv.delete("/v1/vms/" + bystander).status()).isEqualTo(200);
            assertThat(HostInspection.leftovers(bystander, srv.dataDir, srv.server.nodeId())).isEmpty();
        }
    }
}
