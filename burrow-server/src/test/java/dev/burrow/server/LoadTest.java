package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.SandboxState;

/**
 * 200 concurrent creates, then 50 concurrent lifecycle calls on one VM, then 200 concurrent deletes:
 * no 500, no duplicate, the store agrees with the host, nothing left behind. Figures are printed, not
 * asserted.
 */
class LoadTest {
    static final int VMS = Integer.getInteger("burrow.load.vms", 200);

    @Test
    void concurrentCreatesTransitionsAndDeletes() throws Exception {
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
            CountDownLatch go = new CountDownLatch(1);
            List<Future<HttpResponse<String>>> creates = new ArrayList<>();
            for (int i = 0; i < VMS; i++) {
                creates.add(pool.submit(() -> {
                    go.await();
                    return send(http, srv, "POST", "/v1/vms", "{\"vcpuCount\":1,\"memSizeMb\":64,\"labels\":{\"load\":\"1\"}}");
                }));
            }
            long t0 = System.nanoTime();
            go.countDown();
            Set<String> ids = new HashSet<>();
            Map<Integer, Integer> createCodes = new TreeMap<>();
            for (var f : creates) {
                var r = f.get();
                createCodes.merge(r.statusCode(), 1, Integer::sum);
                if (r.statusCode() == 200) ids.add(new TestServer.Response(200, r.body()).json().get("id").asText());
                else System.out.println("create failed: " + r.statusCode() + " " + r.body());
            }
            long createMs = (System.nanoTime() - t0) / 1_000_000;
            assertThat(createCodes).as("status codes of %d concurrent creates", VMS).containsOnlyKeys(200);
            assertThat(ids).hasSize(VMS);
            assertThat(srv.get("/v1/vms?label.load=1").json().get("runningCount").asInt()).isEqualTo(VMS);

            // 50 concurrent transitions on one VM: serialized, each answered 200 or 409, never 500
            String target = ids.iterator().next();
            String[] ops = {"suspend", "start", "stop", "start", "kill"};
            List<Future<HttpResponse<String>>> moves = new ArrayList<>();
            CountDownLatch go2 = new CountDownLatch(1);
            for (int i = 0; i < 50; i++) {
                String op = ops[i % ops.length];
                moves.add(pool.submit(() -> {
                    go2.await();
                    return send(http, srv, "POST", "/v1/vms/" + target + "/" + op, null);
                }));
            }
            long t1 = System.nanoTime();
            go2.countDown();
            Map<Integer, Integer> moveCodes = new TreeMap<>();
            for (var f : moves) moveCodes.merge(f.get().statusCode(), 1, Integer::sum);
            long moveMs = (System.nanoTime() - t1) / 1_000_000;
            assertThat(moveCodes.keySet()).as("codes %s", moveCodes).isSubsetOf(200, 409);
            String finalStatus = srv.get("/v1/vms/" + target).json().get("status").asText();
            SandboxState host = srv.server.driver().state(target);
            assertThat(host).as("store says " + finalStatus).isEqualTo(switch (finalStatus) {
                case "running" -> SandboxState.RUNNING;
                case "suspended" -> SandboxState.PAUSED;
                default -> SandboxState.STOPPED;
            });
            var events = srv.server.lifecycle().events(target, 10_000);
            for (int i = 1; i < events.size(); i++) {
                assertThat(events.get(i).from()).as("event chain %d", i).isEqualTo(events.get(i - 1).to());
            }

            List<Future<HttpResponse<String>>> deletes = new ArrayList<>();
            long t2 = System.nanoTime();
            for (String id : ids) deletes.add(pool.submit(() -> send(http, srv, "DELETE", "/v1/vms/" + id, null)));
            Map<Integer, Integer> deleteCodes = new TreeMap<>();
            for (var f : deletes) deleteCodes.merge(f.get().statusCode(), 1, Integer::sum);
            long deleteMs = (System.nanoTime() - t2) / 1_000_000;
            assertThat(deleteCodes).containsOnlyKeys(200);
            List<String> left = new ArrayList<>();
            for (String id : ids) left.addAll(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId()));
            assertThat(left).isEmpty();
            assertThat(srv.server.driver().list()).isEmpty();
            pool.shutdown();
            System.out.printf("load: %d concurrent creates in %d ms (%.1f/s); 50 transitions on one VM in %d ms %s;"
                    + " %d concurrent deletes in %d ms%n", VMS, createMs, VMS * 1000.0 / createMs, moveMs, moveCodes,
                    VMS, deleteMs);
        }
    }

    static HttpResponse<String> send(HttpClient http, TestServer srv, String method, String path, String body)
            throws Exception {
        var b = HttpRequest.newBuilder(URI.create(srv.url() + path)).timeout(Duration.ofMinutes(10))
                .header("Authorization", "Bearer " + TestServer.KEY)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

}
