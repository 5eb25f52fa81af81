package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.HostResource;

/**
 * VMs in every state (running, suspended, stopped, killed, failed-to-create) are deleted; then the host
 * holds no container, mount, cgroup, network namespace, process or directory of theirs, and once the
 * server stops not even its cgroup parents and runc state directory remain.
 */
class NothingLeftBehindTest {

    @Test
    void deleteAndShutdownReleaseEverything() throws Exception {
        TestServer srv = TestServer.start("builtin:busybox");
        List<String> ids = new ArrayList<>();
        try {
            String running = srv.createVm("{}");
            String suspended = srv.createVm("{}");
            String stopped = srv.createVm("{}");
            String killed = srv.createVm("{}");
            ids.addAll(List.of(running, suspended, stopped, killed));
            for (String id : ids) {
                // background processes and written files in each, so teardown has something to end
                srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"dd if=/dev/zero of=/root/blob bs=1k count=512 2>/dev/null;"
                        + " (sleep 600 >/dev/null 2>&1 &) ; sleep 600 >/dev/null 2>&1 &\"}");
            }
            assertThat(srv.post("/v1/vms/" + suspended + "/suspend", null).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + stopped + "/stop", null).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + killed + "/kill", null).status()).isEqualTo(200);
            // a create that fails half-way (writing a file under a regular file) must clean up after itself
            var failed = srv.post("/v1/vms", "{\"image\":\"builtin:busybox\",\"additionalFiles\":{\"/etc/passwd/x\":{\"content\":\"a\"}}}");
            assertThat(failed.status()).as(failed.body()).isGreaterThanOrEqualTo(400);

            List<HostResource> before = srv.server.driver().list();
            for (String id : ids) {
                assertThat(before).as("driver sees " + id).anyMatch(r -> r.vmId().equals(id));
            }
            for (String id : ids) assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);

            for (String id : ids) assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).as(id).isEmpty();
            assertThat(srv.server.driver().list()).isEmpty();
            assertThat(srv.get("/v1/vms").json().get("totalCount").asInt()).isZero();
        } finally {
            for (String id : ids) srv.delete("/v1/vms/" + id);
            srv.close();
        }
        String node = srv.server.nodeId();
        assertThat(Path.of("/run/burrow", node)).doesNotExist();
        try (var ctrls = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path ctrl : ctrls.toList()) assertThat(ctrl.resolve("burrow-" + node)).doesNotExist();
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            assertThat(line).doesNotContain(srv.dataDir.toString());
        }
        srv.closeAndDelete();
    }

    /**
     * A start that fails after the driver is up (here: the preview port is taken) closes what it had opened: the
     * btrfs loop mount, the node's runc root, its bridge and nftables tables are gone, the data dir can be removed.
     */
    @Test
    void failedStartReleasesWhatItOpened() throws Exception {
        Path dir = Files.createTempDirectory("burrow-failstart-");
        try (var taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> TestServer.start("builtin:busybox", dir,
                    cfg -> cfg.withPreview(new ServerConfig.Preview("127.0.0.1", port, "localhost"))))
                    .isInstanceOf(RuntimeException.class);
        }
        String node = Files.readString(dir.resolve("node-id")).strip();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            assertThat(line).as("mount left by a failed start").doesNotContain(dir.toString());
        }
        assertThat(Path.of("/run/burrow", node)).doesNotExist();
        assertThat(Path.of("/sys/class/net", "bw-" + node)).doesNotExist();
        assertThat(HostInspection.nftRuleset()).doesNotContain("burrow_" + node);
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        assertThat(dir).doesNotExist();
    }
}
