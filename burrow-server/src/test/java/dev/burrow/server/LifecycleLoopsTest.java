package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmStatus;
import dev.burrow.driver.runc.internal.HostCommand;

/**
 * The background loops against real runc: idle suspend and hibernation, ephemeral deletion, the
 * reconciler telling crashes from deliberate suspends and destroying orphans, stuck intents, idempotent
 * creates and the event stream.
 */
class LifecycleLoopsTest {
    static TestServer srv;

    @BeforeAll
    static void start() {
        // fast loops so the test does not wait; hibernation after 2 s of suspended idleness
        srv = TestServer.start("builtin:busybox", null, new ServerConfig.Lifecycle(Duration.ofMillis(300),
                Duration.ofMillis(500), Duration.ofMillis(200), Duration.ofSeconds(2), Duration.ofSeconds(2), 0));
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.close();
    }

    static String status(String id) {
        return srv.get("/v1/vms/" + id).json().get("status").asText();
    }

    static List<VmEvent> events(String id) {
        return srv.server.lifecycle().events(id, 1000);
    }

    @Test
    void idleVmIsSuspendedThenHibernatedAndAccessBringsItBack() {
        String id = srv.createVm("{\"idleTimeoutSeconds\":1}");
        srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo kept > /root/f\"}");
        await().atMost(Duration.ofSeconds(60)).until(() -> status(id).equals("suspended"));
        assertThat(events(id)).anySatisfy(e -> {
            assertThat(e.to()).isEqualTo(VmStatus.SUSPENDED);
            assertThat(e.cause()).isEqualTo("idle");
        });
        // still idle while suspended: hibernated (processes gone, disk kept), state still "suspended"
        await().atMost(Duration.ofSeconds(60)).until(() -> status(id).equals("hibernated"));
        assertThat(srv.get("/v1/vms/" + id).json().get("state").asText()).isEqualTo("suspended");
        // access starts it again transparently, with its disk
        var r = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"cat /root/f\"}").json();
        assertThat(r.get("stdout").asText()).isEqualTo("kept\n");
        // it ran again after the hibernation (with a 1 s idle timeout it may already be on its way to sleep again)
        List<VmEvent> chain = events(id);
        int hibernated = -1;
        for (int i = 0; i < chain.size(); i++) if (chain.get(i).to() == VmStatus.HIBERNATED) hibernated = i;
        assertThat(chain.subList(hibernated + 1, chain.size())).as(chain.toString()).anyMatch(e -> e.to() == VmStatus.RUNNING);
        srv.delete("/v1/vms/" + id);
    }

    @Test
    void pingAndExecKeepAVmAwakeAndTheTimerSurvivesResume() throws Exception {
        // pings every 0.5 s against a 6 s timeout: a loaded machine may slow a round trip by seconds without the
        // test mistaking that for an idle VM
        String id = srv.createVm("{\"idleTimeoutSeconds\":6}");
        Instant until = Instant.now().plusSeconds(9);
        while (Instant.now().isBefore(until)) {
            assertThat(srv.post("/v1/vms/" + id + "/ping", null).status()).isEqualTo(200);
            assertThat(status(id)).isEqualTo("running");
            Thread.sleep(500);
        }
        srv.post("/v1/vms/" + id + "/suspend", null);
        srv.post("/v1/vms/" + id + "/start", null);
        // resumed by the API, idle again: suspended again by the same timer
        await().atMost(Duration.ofSeconds(30)).until(() -> status(id).equals("suspended"));
        srv.delete("/v1/vms/" + id);
    }

    @Test
    void ephemeralVmsAreDeletedOnTheirEvent() {
        String onStop = srv.createVm("{\"persistence\":{\"type\":\"ephemeral\"}}");
        assertThat(srv.get("/v1/vms/" + onStop).json().get("persistence").get("deleteEvent").asText()).isEqualTo("OnStop");
        assertThat(srv.post("/v1/vms/" + onStop + "/stop", null).status()).isEqualTo(200);
        assertThat(srv.get("/v1/vms/" + onStop).status()).isEqualTo(404);
        assertThat(HostInspection.leftovers(onStop, srv.dataDir, srv.server.nodeId())).isEmpty();

        String onSuspend = srv.createVm("{\"persistence\":{\"type\":\"ephemeral\",\"deleteEvent\":\"OnSuspend\"}}");
        assertThat(srv.post("/v1/vms/" + onSuspend + "/suspend", null).status()).isEqualTo(200);
        assertThat(srv.get("/v1/vms/" + onSuspend).status()).isEqualTo(404);
        assertThat(HostInspection.leftovers(onSuspend, srv.dataDir, srv.server.nodeId())).isEmpty();

        String persistent = srv.createVm("{\"persistence\":{\"type\":\"persistent\"}}");
        srv.post("/v1/vms/" + persistent + "/stop", null);
        assertThat(status(persistent)).isEqualTo("stopped");
        srv.delete("/v1/vms/" + persistent);
    }

    @Test
    void reconcilerTellsACrashFromADeliberateSuspend() {
        String crashed = srv.createVm("{}");
        String suspended = srv.createVm("{}");
        srv.post("/v1/vms/" + suspended + "/suspend", null);
        // the VM's processes die behind Burrow's back
        HostCommand.of("runc", "--root", "/run/burrow/" + srv.server.nodeId(), "kill", "--all", "burrow-" + crashed, "KILL")
                .check();
        await().atMost(Duration.ofSeconds(60)).until(() -> status(crashed).equals("stopped"));
        var info = srv.get("/v1/vms/" + crashed).json();
        assertThat(info.get("statusReason").asText()).startsWith("crashed");
        assertThat(events(crashed).get(events(crashed).size() - 1).cause()).isEqualTo("reconciler");
        // the deliberately suspended one is left alone, and a crashed VM can be started again
        // (this server hibernates a VM suspended for 2 s: on a slow machine that may already have happened)
        var left = srv.get("/v1/vms/" + suspended).json();
        assertThat(left.get("status").asText()).as(left.toString()).isIn("suspended", "hibernating", "hibernated");
        assertThat(events(suspended)).noneMatch(e -> "reconciler".equals(e.cause()));
        assertThat(srv.post("/v1/vms/" + crashed + "/start", null).status()).isEqualTo(200);
        assertThat(srv.post("/v1/vms/" + crashed + "/exec-await", "{\"command\":\"echo up\"}").json()
                .get("stdout").asText()).isEqualTo("up\n");
        srv.delete("/v1/vms/" + crashed);
        srv.delete("/v1/vms/" + suspended);
    }

    @Test
    void orphansOnTheHostAreDestroyedAfterTheGracePeriod() {
        // a sandbox made behind the store's back (as a crash between driver and store would leave it)
        String orphan = VmId.generate();
        srv.server.driver().create(new SandboxSpec(orphan, "builtin:busybox", 1, 128, 64, Map.of(), null, orphan));
        assertThat(srv.server.driver().list()).anyMatch(r -> r.vmId().equals(orphan));
        await().atMost(Duration.ofSeconds(60)).until(() -> srv.server.driver().list().stream().noneMatch(r -> r.vmId().equals(orphan)));
        assertThat(HostInspection.leftovers(orphan, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    @Test
    void aVmStuckInATransitionIsSettledAndCanAlwaysBeDeleted() throws Exception {
        String id = srv.createVm("{}");
        // simulate an intent whose operation died: the row says "stopping", nobody holds the lock
        var store = new dev.burrow.store.SqlVmStore(srv.server.database());
        Vm vm = store.find(id).orElseThrow();
        Instant old = Instant.now().minusSeconds(3600);
        store.update(new Vm(vm.id(), vm.spec(), VmStatus.STOPPING, null, vm.createdAt(), old, vm.lastActivityAt(),
                vm.node(), vm.driver(), vm.driverHandle(), vm.version()),
                VmEvent.of(id, old, VmStatus.RUNNING, VmStatus.STOPPING, "stop", "test", null, null)).orElseThrow();
        // the host still runs it: the intent settles on running
        await().atMost(Duration.ofSeconds(60)).until(() -> status(id).equals("running"));
        assertThat(srv.get("/v1/vms/" + id).json().get("statusReason").asText()).contains("interrupted");
        assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    @Test
    void theServerRegistersItsNodeAndItsLoopsLeaveAnotherNodesVmsAlone() {
        var node = new dev.burrow.store.SqlNodeStore(srv.server.database()).find(srv.server.nodeId()).orElseThrow();
        assertThat(node.address()).isEqualTo(srv.server.url());
        assertThat(node.capacity()).containsKeys("vcpus", "memoryMb", "maxVms");
        assertThat(node.heartbeatAt()).isAfterOrEqualTo(node.startedAt());
        // a VM another host runs on the same database, idle for an hour: nothing of it is on this host, and this
        // host's loops must take that neither for a crash (reconciler) nor for idleness (idle suspender)
        String local = srv.createVm("{\"idleTimeoutSeconds\":1}");
        var store = new dev.burrow.store.SqlVmStore(srv.server.database());
        Vm template = store.find(local).orElseThrow();
        Instant old = Instant.now().minusSeconds(3600);
        Vm foreign = new Vm(VmId.generate(), template.spec(), VmStatus.RUNNING, null, old, old, old, "another-node",
                template.driver(), null, 0);
        store.insert(foreign, VmEvent.of(foreign.id(), old, null, VmStatus.RUNNING, "create", "test", null, null));
        try {
            srv.server.loops().runNow(srv.server.reconciler());
            // the idle suspender's pass that suspends the local VM walked after the foreign one was written
            // (read from the events: it may be hibernated already by the time anyone looks at its status)
            await().atMost(Duration.ofSeconds(60)).until(() -> events(local).stream()
                    .anyMatch(e -> e.to() == VmStatus.SUSPENDED && "idle".equals(e.cause())));
            assertThat(store.find(foreign.id()).orElseThrow().status()).isEqualTo(VmStatus.RUNNING);
            assertThat(store.events(foreign.id(), 10)).hasSize(1);
        } finally {
            Vm f = store.find(foreign.id()).orElseThrow();
            store.update(f.withStatus(VmStatus.DELETED, null, Instant.now()),
                    VmEvent.of(f.id(), Instant.now(), f.status(), VmStatus.DELETED, "delete", "test", null, null));
            srv.delete("/v1/vms/" + local);
        }
    }

    @Test
    void idempotencyKeyMakesRetriedCreatesReturnTheSameVm() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String body = "{\"vcpuCount\":1,\"labels\":{\"idem\":\"yes\"}}";
        String key = "retry-" + System.nanoTime();
        var pool = Executors.newFixedThreadPool(8);
        List<Future<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            fs.add(pool.submit(() -> http.send(HttpRequest.newBuilder(URI.create(srv.url() + "/v1/vms"))
                    .header("Authorization", "Bearer " + TestServer.KEY).header("Idempotency-Key", key)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString())));
        }
        Set<String> ids = new HashSet<>();
        for (var f : fs) {
            var r = f.get();
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            ids.add(new TestServer.Response(r.statusCode(), r.body()).json().get("id").asText());
        }
        pool.shutdown();
        assertThat(ids).hasSize(1);
        assertThat(srv.get("/v1/vms?label.idem=yes").json().get("totalCount").asInt()).isEqualTo(1);
        var other = http.send(HttpRequest.newBuilder(URI.create(srv.url() + "/v1/vms"))
                .header("Authorization", "Bearer " + TestServer.KEY).header("Idempotency-Key", key)
                .POST(HttpRequest.BodyPublishers.ofString("{\"vcpuCount\":2}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(other.statusCode()).isEqualTo(409);
        assertThat(other.body()).contains("IDEMPOTENCY_KEY_REUSED");
        srv.delete("/v1/vms/" + ids.iterator().next());
    }

    @Test
    void eventsRouteAndStreamReportEveryTransitionWithItsCause() throws Exception {
        List<String> received = new CopyOnWriteArrayList<>();
        HttpClient http = HttpClient.newHttpClient();
        assertThat(srv.get("/v1/events").status()).isEqualTo(400); // without Accept: text/event-stream
        var stream = http.sendAsync(HttpRequest.newBuilder(URI.create(srv.url() + "/v1/events"))
                .header("Authorization", "Bearer " + TestServer.KEY).header("Accept", "text/event-stream").build(),
                HttpResponse.BodyHandlers.ofInputStream());
        var response = stream.get();
        assertThat(response.statusCode()).isEqualTo(200);
        Thread reader = Thread.ofVirtual().start(() -> {
            try (var in = new BufferedReader(new InputStreamReader(response.body()))) {
                String line;
                while ((line = in.readLine()) != null) if (line.startsWith("data:")) received.add(line.substring(5).trim());
            } catch (Exception ignored) {
                // stream closed at the end of the test
            }
        });
        await().atMost(Duration.ofSeconds(60)).until(() -> srv.server.events().subscribers() > 0);
        String id = srv.createVm("{}");
        srv.post("/v1/vms/" + id + "/suspend", null);
        srv.delete("/v1/vms/" + id);
        await().atMost(Duration.ofSeconds(60)).until(() -> received.stream().filter(e -> e.contains(id)).count() >= 6);
        List<String> mine = received.stream().filter(e -> e.contains(id)).toList();
        assertThat(mine.get(0)).contains("\"to\":\"creating\"").contains("\"cause\":\"api\"");
        assertThat(mine).anyMatch(e -> e.contains("\"to\":\"suspended\""));
        assertThat(mine.get(mine.size() - 1)).contains("\"to\":\"deleted\"");
        var listed = srv.get("/v1/vms/" + id + "/events");
        assertThat(listed.status()).isEqualTo(404); // deleted VMs are gone from the API
        reader.interrupt();
        response.body().close();

        String id2 = srv.createVm("{}");
        var ev = srv.get("/v1/vms/" + id2 + "/events").json().get("events");
        assertThat(ev.get(0).get("to").asText()).isEqualTo("creating");
        assertThat(ev.get(1).get("to").asText()).isEqualTo("running");
        assertThat(ev.get(1).get("cause").asText()).isEqualTo("api");
        srv.delete("/v1/vms/" + id2);
    }

}
