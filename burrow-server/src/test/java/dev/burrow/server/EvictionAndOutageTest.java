package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;

/**
 * Storage pressure evicts sticky VMs that are not running, lowest priority first, and never persistent or
 * running ones; the store being locked for a moment delays requests instead of failing them.
 */
class EvictionAndOutageTest {

    @Test
    void stickyVmsAreEvictedByPriorityUnderStoragePressure() {
        // quota 24 MiB; four VMs write 10 MiB each
        try (TestServer srv = TestServer.start("builtin:busybox", null, new ServerConfig.Lifecycle(Duration.ofMillis(300),
                Duration.ofSeconds(60), Duration.ofSeconds(1), null, Duration.ofMinutes(10), 24L * 1024 * 1024))) {
            String low = srv.createVm("{\"persistence\":{\"type\":\"sticky\",\"priority\":1}}");
            String high = srv.createVm("{\"persistence\":{\"type\":\"sticky\",\"priority\":9}}");
            String persistent = srv.createVm("{\"persistence\":{\"type\":\"persistent\"}}");
            String running = srv.createVm("{\"persistence\":{\"type\":\"sticky\",\"priority\":0}}");
            for (String id : new String[] {low, high, persistent, running}) {
                var r = srv.post("/v1/vms/" + id + "/exec-await",
                        "{\"command\":\"dd if=/dev/urandom of=/root/blob bs=1M count=10 2>/dev/null && sync\"}");
                assertThat(r.json().get("statusCode").asInt()).as(r.body()).isZero();
            }
            for (String id : new String[] {low, high, persistent}) srv.post("/v1/vms/" + id + "/stop", null);
            // 40 MiB > 24 MiB: stopped sticky VMs go, lowest priority first, until the disks fit (30 MiB after the
            // first eviction is still over, so the priority-9 one goes too); never the persistent one, nor the
            // running priority-0 one
            await().atMost(Duration.ofSeconds(60)).until(() -> srv.get("/v1/vms/" + low).status() == 404
                    && srv.get("/v1/vms/" + high).status() == 404);
            var store = new dev.burrow.store.SqlVmStore(srv.server.database());
            var lowDeleted = store.events(low, 100).stream().filter(e -> e.to().dbName().equals("deleted")).findFirst().orElseThrow();
            var highDeleted = store.events(high, 100).stream().filter(e -> e.to().dbName().equals("deleted")).findFirst().orElseThrow();
            assertThat(lowDeleted.cause()).isEqualTo("eviction");
            assertThat(lowDeleted.id()).as("lowest priority evicted first").isLessThan(highDeleted.id());
            assertThat(srv.get("/v1/vms/" + persistent).json().get("status").asText()).isEqualTo("stopped");
            assertThat(srv.get("/v1/vms/" + running).json().get("status").asText()).isEqualTo("running");
            assertThat(HostInspection.leftovers(low, srv.dataDir, srv.server.nodeId())).isEmpty();
            assertThat(HostInspection.leftovers(high, srv.dataDir, srv.server.nodeId())).isEmpty();
        }
    }

    @Test
    void aLockedStoreDelaysRequestsWithoutBreakingThem() throws Exception {
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            String url = "jdbc:sqlite:" + srv.dataDir.resolve("burrow.db");
            CountDownLatch locked = new CountDownLatch(1);
            Thread holder = Thread.ofPlatform().start(() -> {
                try (Connection c = DriverManager.getConnection(url)) {
                    c.createStatement().execute("BEGIN EXCLUSIVE");
                    locked.countDown();
                    Thread.sleep(3000);
                    c.createStatement().execute("ROLLBACK");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            locked.await();
            var r = srv.post("/v1/vms", "{}");
            holder.join();
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            String id = r.json().get("id").asText();
            assertThat(srv.get("/v1/vms/" + id).json().get("status").asText()).isEqualTo("running");
            assertThat(srv.server.lifecycle().events(id, 10)).hasSize(2);
            assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
        }
    }
}
