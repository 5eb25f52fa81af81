package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.http.Json;

/**
 * The node's limits against a real server with small ones configured: the VM count under concurrent creates, cpu and
 * memory against the host, concurrent execs per VM and per node, and the processes a VM may have. Every refusal is a
 * {@code CAPACITY} error with a Retry-After, never a driver error, and nothing is left half-made.
 */
class AdmissionTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String SMALL = "{\"vcpuCount\":1,\"memSizeMb\":64}";

    /** A server whose limits are these (the VM count from {@code maxVms}), everything else as the tests use it. */
    private static TestServer server(int maxVms, ServerConfig.Admission admission) {
        return TestServer.start("builtin:busybox", null, cfg -> cfg.toBuilder()
                .observability(new ServerConfig.Observability(maxVms, null)).admission(admission).build());
    }

    private static ServerConfig.Admission roomy() {
        return new ServerConfig.Admission(1000, 1000, 0, 0, ServerConfig.Admission.DEFAULT_VM_PIDS_MAX, 0);
    }

    @Test
    void concurrentCreatesPastMaxVmsAdmitExactlyTheLimitAndRefuseTheRestWithCapacity() throws Exception {
        try (TestServer srv = server(3, roomy())) {
            int n = 8;
            ExecutorService pool = Executors.newFixedThreadPool(n);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Reply>> creates = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                creates.add(pool.submit(() -> {
                    go.await();
                    return send(srv, "POST", "/v1/vms", SMALL);
                }));
            }
            go.countDown();
            List<Reply> replies = new ArrayList<>();
            for (var f : creates) replies.add(f.get());
            pool.shutdown();

            assertThat(replies).filteredOn(r -> r.status() == 200).hasSize(3);
            List<Reply> refused = replies.stream().filter(r -> r.status() != 200).toList();
            assertThat(refused).hasSize(5).allSatisfy(r -> {
                assertThat(r.status()).as(r.body()).isEqualTo(503);
                assertThat(r.json().get("code").asText()).isEqualTo("CAPACITY");
                assertThat(r.json().get("message").asText()).contains("maximum of 3 VMs").contains("--max-vms");
                assertThat(r.retryAfter()).isNotNull();
            });
            System.out.println("capacity error seen: " + refused.get(0).status() + " " + refused.get(0).body());
            assertThat(srv.get("/v1/vms").json().get("vms")).hasSize(3);

            // a stopped VM keeps its disk and lease, so it still counts; a deleted one frees its place
            String first = replies.stream().filter(r -> r.status() == 200).findFirst().orElseThrow().json().get("id").asText();
            assertThat(srv.post("/v1/vms/" + first + "/stop", null).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms", SMALL).status()).isEqualTo(503);
            assertThat(srv.delete("/v1/vms/" + first).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms", SMALL).status()).isEqualTo(200);
        }
    }

    @Test
    void aForkThatDoesNotFitIsRefusedBeforeItMakesAnything() {
        try (TestServer srv = server(3, roomy())) {
            String source = srv.createVm(SMALL);
            var r = srv.post("/v1/vms/" + source + "/fork", "{\"count\":3}");
            assertThat(r.status()).as(r.body()).isEqualTo(503);
            assertThat(r.json().get("code").asText()).isEqualTo("CAPACITY");
            assertThat(r.json().get("message").asText()).contains("3 more do not fit (2 left)");
            assertThat(srv.get("/v1/vms").json().get("vms")).hasSize(1);
            assertThat(srv.server.lifecycle().listSnapshots()).isEmpty();
            assertThat(srv.post("/v1/vms/" + source + "/fork", "{\"count\":2}").status()).isEqualTo(200);
        }
    }

    @Test
    void aCreateOverTheMemoryLeftIsRefusedSayingHowMuchIsLeftAndStoppingAVmGivesItBack() {
        long hostMb = HostInfo.totalMemoryMb();
        // room for 300 MiB of VM memory limits, whatever the host has
        double overcommit = 300.0 / hostMb;
        try (TestServer srv = server(100, new ServerConfig.Admission(1000, overcommit, 0, 0,
                ServerConfig.Admission.DEFAULT_VM_PIDS_MAX, 0))) {
            long room = (long) Math.floor(hostMb * overcommit);
            String a = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":200}");
            var refused = srv.post("/v1/vms", "{\"vcpuCount\":1,\"memSizeMb\":128}");
            assertThat(refused.status()).as(refused.body()).isEqualTo(503);
            assertThat(refused.json().get("code").asText()).isEqualTo("CAPACITY");
            assertThat(refused.json().get("message").asText())
                    .contains("not enough memory")
                    .contains("128 MiB asked, " + (room - 200) + " MiB of " + room + " MiB left")
                    .contains("--memory-overcommit");
            System.out.println("capacity error seen: " + refused);
            assertThat(srv.get("/v1/vms").json().get("vms")).hasSize(1);

            // a stopped VM has no processes, so its memory is free again; starting it needs room again
            assertThat(srv.post("/v1/vms/" + a + "/stop", null).status()).isEqualTo(200);
            String b = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":128}");
            var start = srv.post("/v1/vms/" + a + "/start", null);
            assertThat(start.status()).as(start.body()).isEqualTo(503);
            assertThat(start.json().get("message").asText()).contains("not enough memory on this node to start");
            System.out.println("capacity error seen: " + start);
            assertThat(srv.get("/v1/vms/" + a).json().get("state").asText()).isEqualTo("stopped");
            assertThat(srv.delete("/v1/vms/" + b).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + a + "/start", null).status()).isEqualTo(200);
        }
    }

    @Test
    void aCreateOverTheVcpusLeftIsRefusedNamingTheCpuLimit() {
        int cpus = Runtime.getRuntime().availableProcessors();
        // exactly one vCPU of room whatever the host has
        try (TestServer srv = server(100, new ServerConfig.Admission(1.0 / cpus, 1000, 0, 0,
                ServerConfig.Admission.DEFAULT_VM_PIDS_MAX, 0))) {
            srv.createVm(SMALL);
            var r = srv.post("/v1/vms", SMALL);
            assertThat(r.status()).as(r.body()).isEqualTo(503);
            assertThat(r.json().get("message").asText()).contains("not enough CPU").contains("1 vCPUs asked, 0 of 1 left")
                    .contains("--cpu-overcommit");
            System.out.println("capacity error seen: " + r);
        }
    }

    @Test
    void execsOverThePerVmCapGet429WithRetryAfterAndWorkAgainOnceTheOthersEnd() throws Exception {
        try (TestServer srv = server(100, new ServerConfig.Admission(1000, 1000, 2, 3,
                ServerConfig.Admission.DEFAULT_VM_PIDS_MAX, 0))) {
            String vm = srv.createVm(SMALL);
            String other = srv.createVm(SMALL);
            String p1 = startSleep(srv, vm);
            String p2 = startSleep(srv, vm);

            Reply exec = send(srv, "POST", "/v1/vms/" + vm + "/exec-await", "{\"command\":\"echo hi\"}");
            assertThat(exec.status()).as(exec.body()).isEqualTo(429);
            assertThat(exec.json().get("code").asText()).isEqualTo("CAPACITY");
            assertThat(exec.json().get("message").asText()).contains("maximum of 2 concurrent execs").contains("--max-execs-per-vm");
            assertThat(exec.retryAfter()).isEqualTo("1");
            System.out.println("capacity error seen: " + exec.status() + " " + exec.body());
            Reply spawn = send(srv, "POST", "/v1/vms/" + vm + "/processes", "{\"command\":\"true\"}");
            assertThat(spawn.status()).as(spawn.body()).isEqualTo(429);

            // the node's cap counts every VM: one more in another VM fills it
            String p3 = startSleep(srv, other);
            Reply node = send(srv, "POST", "/v1/vms/" + other + "/exec-await", "{\"command\":\"echo hi\"}");
            assertThat(node.status()).as(node.body()).isEqualTo(429);
            assertThat(node.json().get("message").asText()).contains("this node already runs its maximum of 3").contains("--max-execs");
            System.out.println("capacity error seen: " + node.status() + " " + node.body());

            for (String p : List.of(p1, p2)) assertThat(srv.delete("/v1/vms/" + vm + "/processes/" + p).status()).isEqualTo(200);
            assertThat(srv.delete("/v1/vms/" + other + "/processes/" + p3).status()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                var again = srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"echo again\"}");
                assertThat(again.status()).as(again.body()).isEqualTo(200);
                assertThat(again.json().get("stdout").asText()).isEqualTo("again\n");
            });
            assertThat(srv.server.lifecycle().execSlots().inUse()).isZero();
        }
    }

    @Test
    void aVmGetsTheDefaultPidsMaxAndAllVmsOfTheNodeShareTheNodeCap() throws Exception {
        try (TestServer srv = server(100, new ServerConfig.Admission(1000, 1000, 0, 0, 1024, 6000))) {
            String vm = srv.createVm("{\"memSizeMb\":64}");
            assertThat(srv.get("/v1/vms/" + vm).json().get("vcpuCount").asInt()).as("default vcpuCount").isEqualTo(1);
            Path node = Path.of("/sys/fs/cgroup/pids", "burrow-" + srv.server.nodeId());
            assertThat(Files.readString(node.resolve(vm).resolve("pids.max")).strip()).isEqualTo("1024");
            assertThat(Files.readString(node.resolve("pids.max")).strip()).isEqualTo("6000");
        }
    }

    private static String startSleep(TestServer srv, String vm) {
        var r = srv.post("/v1/vms/" + vm + "/processes", "{\"command\":\"sleep 1000\"}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("id").asText();
    }

    private record Reply(int status, String body, String retryAfter) {
        JsonNode json() {
            try {
                return Json.MAPPER.readTree(body);
            } catch (java.io.IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }
    }

    private static Reply send(TestServer srv, String method, String path, String body) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(srv.url() + path)).timeout(Duration.ofMinutes(5))
                .header("Authorization", "Bearer " + TestServer.KEY).header("Content-Type", "application/json")
                .method(method, HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body(), r.headers().firstValue("Retry-After").orElse(null));
    }
}
