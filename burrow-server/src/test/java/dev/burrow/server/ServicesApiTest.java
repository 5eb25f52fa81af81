package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * {@code systemd.services} and the {@code /v1/vms/{id}/systemd/...} routes over HTTP against real runc: ordering,
 * restart policies and start limits, timeouts, deleteAfterSuccess, runtime add/remove, VM stop/start and suspend,
 * and a server restart in the middle of it all.
 */
class ServicesApiTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    static JsonNode status(TestServer srv, String vm, String svc) {
        var r = srv.get("/v1/vms/" + vm + "/systemd/services/" + svc + "/status");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json();
    }

    static String state(TestServer srv, String vm, String svc) {
        JsonNode s = status(srv, vm, svc);
        return s.get("activeState").asText() + "/" + s.get("subState").asText();
    }

    /** The state, with the service's status and logs in the failure message. */
    static void expectState(TestServer srv, String vm, String svc, String expected) {
        String actual = state(srv, vm, svc);
        if (!actual.equals(expected)) {
            throw new AssertionError(svc + ": expected " + expected + " but was " + actual + "; " + status(srv, vm, svc)
                    + "; logs:\n" + logs(srv, vm, svc));
        }
    }

    static String logs(TestServer srv, String vm, String svc) {
        var r = srv.get("/v1/vms/" + vm + "/systemd/services/" + svc + "/logs?lines=1000");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        StringBuilder sb = new StringBuilder();
        for (JsonNode e : r.json().get("logs")) {
            assertThat(e.get("timestamp").asText()).matches("\\d{4}-\\d\\d-\\d\\dT.*Z");
            sb.append(e.get("message").asText()).append('\n');
        }
        return sb.toString();
    }

    static String sh(TestServer srv, String vm, String cmd) {
        var r = srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":" + quote(cmd) + "}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("stdout").asText().strip();
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static String svc(String name, String mode, String exec, String extra) {
        return "{\"name\":\"" + name + "\",\"mode\":\"" + mode + "\",\"exec\":[" + quote(exec) + "]" + extra + "}";
    }

    @Test
    void servicesRunSuperviseAndSurviveRestartsOfVmAndServer() {
        TestServer srv = TestServer.start("builtin:busybox");
        TestServer restarted = null;
        try {
            String services = String.join(",",
                    // web is ordered after (and requires) setup: it must see what setup wrote
                    svc("setup", "oneshot", "sleep 1; echo from-setup > /tmp/setup; echo setup done", ""),
                    svc("web", "service", "echo $$ > /tmp/web.pid; while :; do echo \"tick $(cat /tmp/setup) $GREETING $(pwd)\"; sleep 1; done",
                            ",\"after\":[\"setup.service\"],\"requires\":[\"setup.service\"],\"env\":{\"GREETING\":\"hi there\"},"
                                    + "\"workdir\":\"/srv\",\"wantedBy\":[\"multi-user.target\"]"),
                    svc("crasher", "service", "echo crash; exit 3",
                            ",\"restartPolicy\":{\"policy\":\"always\",\"restartSec\":0.2,\"startLimitBurst\":3,\"startLimitIntervalSec\":60}"),
                    svc("flaky", "service", "if [ -f /tmp/flaky ]; then echo steady; exec sleep 1000; fi; touch /tmp/flaky; exit 1",
                            ",\"restartPolicy\":{\"policy\":\"on-failure\",\"restartSec\":0.1}"),
                    svc("clean-exit", "service", "exit 0", ",\"restartPolicy\":{\"policy\":\"on-failure\"}"),
                    svc("killed", "service", "kill -SEGV $$", ",\"restartPolicy\":{\"policy\":\"on-abnormal\",\"startLimitBurst\":2}"),
                    svc("disabled", "service", "sleep 1000", ",\"enable\":false"),
                    svc("ephemeral", "oneshot", "echo bye", ",\"deleteAfterSuccess\":true"),
                    svc("slow", "oneshot", "sleep 30", ",\"timeoutSec\":1"),
                    svc("transient", "oneshot", "true", ",\"remainAfterExit\":false"));
            String vm = srv.createVm("{\"additionalFiles\":{\"/srv/readme\":{\"content\":\"x\"}},\"systemd\":{\"services\":["
                    + services + "]}}");

            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "setup", "active/exited");
                expectState(srv, vm, "web", "active/running");
                assertThat(logs(srv, vm, "web")).contains("tick from-setup hi there /srv");
                expectState(srv, vm, "crasher", "failed/failed");
                expectState(srv, vm, "flaky", "active/running");
                expectState(srv, vm, "clean-exit", "inactive/dead");
                expectState(srv, vm, "killed", "failed/failed");
                expectState(srv, vm, "slow", "failed/failed");
                expectState(srv, vm, "transient", "inactive/dead");
            });
            assertThat(logs(srv, vm, "setup")).contains("setup done");
            // always + start limit: three runs, then given up
            assertThat(logs(srv, vm, "crasher").lines().filter(l -> l.equals("crash")).count()).isEqualTo(3);
            assertThat(status(srv, vm, "crasher").get("description").asText()).contains("start-limit-hit");
            assertThat(logs(srv, vm, "flaky")).contains("steady");
            // on-abnormal restarts a SIGSEGV (11): two starts, then the limit
            assertThat(status(srv, vm, "killed").get("description").asText()).contains("start-limit-hit").contains("139");
            assertThat(status(srv, vm, "slow").get("description").asText()).contains("timeout");
            expectState(srv, vm, "disabled", "inactive/dead");
            // a succeeded deleteAfterSuccess oneshot is removed by the host-side supervisor
            await().atMost(WAIT).untilAsserted(() -> assertThat(srv.get("/v1/vms/" + vm + "/systemd/services").json()
                    .get("services").findValuesAsText("name")).doesNotContain("ephemeral").contains("web", "disabled"));
            assertThat(srv.get("/v1/vms/" + vm + "/systemd/services/ephemeral/status").status()).isEqualTo(404);

            // stop / start / restart through the routes the SDK uses
            String pid = sh(srv, vm, "cat /tmp/web.pid");
            var stopped = srv.post("/v1/vms/" + vm + "/systemd/stop", "{\"services\":[{\"id\":\"web\"},{\"id\":\"nope\"}]}");
            assertThat(stopped.status()).as(stopped.body()).isEqualTo(200);
            assertThat(stopped.json().get("results").get(0).get("success").asBoolean()).isTrue();
            assertThat(stopped.json().get("results").get(1).get("success").asBoolean()).isFalse();
            expectState(srv, vm, "web", "inactive/dead");
            assertThat(sh(srv, vm, "kill -0 " + pid + " 2>/dev/null && echo alive || echo gone")).isEqualTo("gone");
            var started = srv.post("/v1/vms/" + vm + "/systemd/start", "{\"services\":[{\"id\":\"web.service\"},{\"id\":\"disabled\"}]}");
            assertThat(started.json().get("results").findValuesAsText("success")).containsOnly("true");
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "web", "active/running");
                expectState(srv, vm, "disabled", "active/running");
                assertThat(sh(srv, vm, "cat /tmp/web.pid")).isNotEqualTo(pid);
            });
            String pid2 = sh(srv, vm, "cat /tmp/web.pid");
            assertThat(srv.post("/v1/vms/" + vm + "/systemd/restart", "{\"services\":[{\"id\":\"crasher\"}]}").status()).isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> {
                assertThat(logs(srv, vm, "crasher").lines().filter(l -> l.equals("crash")).count()).isEqualTo(6);
                expectState(srv, vm, "crasher", "failed/failed");
            });

            // suspend/resume: the same processes simply continue
            assertThat(srv.post("/v1/vms/" + vm + "/suspend", null).status()).isEqualTo(200);
            assertThat(srv.post("/v1/vms/" + vm + "/start", null).status()).isEqualTo(200);
            assertThat(sh(srv, vm, "cat /tmp/web.pid")).isEqualTo(pid2);
            assertThat(sh(srv, vm, "kill -0 " + pid2 + " && echo alive")).isEqualTo("alive");

            // a server restart: the supervisors keep running in the VM, and supervision picks up again
            srv.server.close();
            restarted = TestServer.start("builtin:busybox", srv.dataDir);
            TestServer srv2 = restarted;
            assertThat(sh(srv2, vm, "kill -0 " + pid2 + " && echo alive")).isEqualTo("alive");
            expectState(srv2, vm, "web", "active/running");
            String before = sh(srv2, vm, "cat /tmp/web.pid");
            sh(srv2, vm, "rm -f /tmp/flaky; kill $(cat /tmp/web.pid)");
            // web has no restart policy: killed with TERM it is a clean, final exit
            await().atMost(WAIT).untilAsserted(() -> expectState(srv2, vm, "web", "inactive/dead"));
            assertThat(before).isEqualTo(pid2);

            // VM stop and start: enabled services start again in a fresh boot (not the disabled one)
            assertThat(srv2.post("/v1/vms/" + vm + "/stop", null).status()).isEqualTo(200);
            expectState(srv2, vm, "web", "inactive/dead");
            assertThat(logs(srv2, vm, "web")).contains("tick from-setup");   // logs are on the disk
            assertThat(srv2.post("/v1/vms/" + vm + "/start", null).status()).isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv2, vm, "web", "active/running");
                expectState(srv2, vm, "setup", "active/exited");
                expectState(srv2, vm, "disabled", "inactive/dead");
                // flaky failed once again in this boot (its marker file was removed) and was restarted
                expectState(srv2, vm, "flaky", "active/running");
            });
        } finally {
            if (restarted != null) restarted.close();
            else srv.close();
        }
    }

    @Test
    void servicesAreAddedAndRemovedAtRunTimeAndRequiresStopsDependents() {
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            String vm = srv.createVm("{}");
            String base = "/v1/vms/" + vm + "/systemd/services";
            assertThat(srv.get(base).json().get("services")).isEmpty();
            var added = srv.post(base, svc("db", "service", "echo db up; exec sleep 1000", ""));
            assertThat(added.status()).as(added.body()).isEqualTo(200);
            assertThat(added.json().get("serviceName").asText()).isEqualTo("db");
            assertThat(added.json().get("success").asBoolean()).isTrue();
            var dup = srv.post(base, svc("db", "service", "true", ""));
            assertThat(dup.status()).isEqualTo(409);
            assertThat(dup.json().get("code").asText()).isEqualTo("SERVICE_ALREADY_EXISTS");
            assertThat(srv.post(base, svc("app", "service", "exec sleep 1000",
                    ",\"requires\":[\"db\"],\"after\":[\"db\"]")).status()).isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "db", "active/running");
                expectState(srv, vm, "app", "active/running");
            });
            assertThat(logs(srv, vm, "db")).contains("db up");
            // stopping a required service stops what requires it
            var stop = srv.post("/v1/vms/" + vm + "/systemd/stop", "{\"services\":[{\"id\":\"db\"}]}");
            assertThat(stop.json().get("results").get(0).get("message").asText()).contains("app");
            expectState(srv, vm, "app", "inactive/dead");
            // starting one that requires another starts both
            srv.post("/v1/vms/" + vm + "/systemd/start", "{\"services\":[{\"id\":\"app\"}]}");
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "db", "active/running");
                expectState(srv, vm, "app", "active/running");
                // "running" is the supervisor's state: its command may still be on its way to the exec
                assertThat(sh(srv, vm, "ps | grep -c '[s]leep 1000'")).isEqualTo("2");
            });
            // removing stops the processes and forgets the service
            var removed = srv.delete(base + "/db");
            assertThat(removed.status()).as(removed.body()).isEqualTo(200);
            assertThat(srv.get(base).json().get("services").findValuesAsText("name")).containsExactly("app");
            assertThat(sh(srv, vm, "ps | grep -c '[s]leep 1000'; ls /run/burrow/services")).isEqualTo("0\napp");
            assertThat(srv.delete(base + "/db").status()).isEqualTo(404);
            assertThat(srv.get(base + "/db/logs").status()).isEqualTo(404);
            // a required service that fails takes down what requires it (host-side supervision)
            // (app still requires the removed db: it is not refused for that, it starts without it)
            assertThat(srv.post(base, svc("fragile", "service", "sleep 2; exit 1", "")).status()).isEqualTo(200);
            assertThat(srv.post(base, svc("needs-fragile", "service", "exec sleep 1000", ",\"requires\":[\"fragile\"]")).status())
                    .isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "fragile", "failed/failed");
                expectState(srv, vm, "needs-fragile", "inactive/dead");
            });
            assertThat(status(srv, vm, "needs-fragile").get("description").asText()).contains("dependency");
            // onFailure starts the named service when this one fails
            assertThat(srv.post(base, svc("alarm", "oneshot", "echo alarm raised", ",\"enable\":false")).status()).isEqualTo(200);
            assertThat(srv.post(base, svc("doomed", "oneshot", "exit 4", ",\"onFailure\":[\"alarm.service\"]")).status())
                    .isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> assertThat(logs(srv, vm, "alarm")).contains("alarm raised"));
            // stopping a oneshot while it runs also ends its timeout watchdog: it must not fire afterwards
            assertThat(srv.post(base, svc("long", "oneshot", "sleep 60", ",\"timeoutSec\":2")).status()).isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> expectState(srv, vm, "long", "activating/start"));
            srv.post("/v1/vms/" + vm + "/systemd/stop", "{\"services\":[{\"id\":\"long\"}]}");
            expectState(srv, vm, "long", "inactive/dead");
            sh(srv, vm, "sleep 3");
            assertThat(sh(srv, vm, "ls /run/burrow/services/long")).doesNotContain("timedout").doesNotContain("wd");
            expectState(srv, vm, "long", "inactive/dead");
            // logs: lines and since
            var few = srv.get(base + "/alarm/logs?lines=1").json().get("logs");
            assertThat(few).hasSize(1);
            assertThat(srv.get(base + "/alarm/logs?since=2999-01-01T00:00:00Z").json().get("logs")).isEmpty();
        }
    }

    @Test
    void servicesRunAsTheirUserInADebianVm() {
        try (TestServer srv = TestServer.start("builtin:debian")) {
            String vm = srv.createVm("{\"systemd\":{\"services\":[" + String.join(",",
                    svc("as-nobody", "oneshot", "id -un; id -gn; echo home=$HOME", ",\"user\":\"nobody\""),
                    svc("as-group", "oneshot", "id -un; id -gn", ",\"user\":\"nobody\",\"group\":\"daemon\""),
                    svc("ghost", "oneshot", "true", ",\"user\":\"ghost\"")) + "]}}");
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "as-nobody", "active/exited");
                expectState(srv, vm, "as-group", "active/exited");
                expectState(srv, vm, "ghost", "failed/failed");
            });
            assertThat(logs(srv, vm, "as-nobody")).contains("nobody\nnogroup\nhome=/nonexistent");
            assertThat(logs(srv, vm, "as-group")).contains("nobody\ndaemon");
            assertThat(logs(srv, vm, "ghost")).contains("user 'ghost' does not exist");
            assertThat(status(srv, vm, "ghost").get("description").asText()).contains("217");
        }
    }

    static List<String> names(JsonNode services) {
        return services.findValuesAsText("name");
    }
}
