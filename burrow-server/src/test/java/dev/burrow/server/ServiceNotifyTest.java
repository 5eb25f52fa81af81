package dev.burrow.server;

import static dev.burrow.server.ServicesApiTest.expectState;
import static dev.burrow.server.ServicesApiTest.logs;
import static dev.burrow.server.ServicesApiTest.sh;
import static dev.burrow.server.ServicesApiTest.status;
import static dev.burrow.server.ServicesApiTest.svc;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ServiceNotify;
import dev.burrow.core.testing.HostRequirements;

/**
 * readySignal (Type=notify) and watchdogSec over HTTP against real runc: the services send sd_notify datagrams with a
 * small static sender compiled here (busybox has none) to the socket Burrow gives them in NOTIFY_SOCKET.
 */
class ServiceNotifyTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static String sender;

    @BeforeAll
    static void compileSender() throws IOException, InterruptedException {
        HostRequirements.requireCommand("gcc");
        Path dir = Files.createTempDirectory("burrow-sdnotify");
        try {
            Path src = dir.resolve("sdnotify.c");
            try (InputStream in = ServiceNotifyTest.class.getResourceAsStream("/sdnotify.c")) {
                Files.write(src, in.readAllBytes());
            }
            Path bin = dir.resolve("sdnotify");
            Process p = new ProcessBuilder("gcc", "-static", "-s", "-O2", "-o", bin.toString(), src.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            sender = Base64.getEncoder().encodeToString(Files.readAllBytes(bin));
        } finally {
            try (var s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    private static String createWithSender(TestServer srv, String services) {
        return srv.createVm("{\"additionalFiles\":{\"/usr/local/bin/sdnotify\":{\"content\":\"" + sender
                + "\",\"encoding\":\"base64\",\"executable\":true}},\"systemd\":{\"services\":[" + services + "]}}");
    }

    @Test
    void readySignalGatesStartAndDependantsTimesOutAndCannotBeSpoofed() {
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            String vm = createWithSender(srv, String.join(",",
                    svc("db", "service", "sleep 3; echo yes > /tmp/db-ready; sdnotify 'STATUS=accepting connections' READY=1; "
                            + "exec sleep 1000", ",\"readySignal\":true,\"timeoutSec\":20"),
                    // ordered after db: starts only once db is ready, so it sees what db wrote just before READY=1
                    svc("app", "service", "echo \"db ready: $(cat /tmp/db-ready 2>/dev/null || echo no)\"; exec sleep 1000",
                            ",\"after\":[\"db.service\"],\"requires\":[\"db.service\"]"),
                    svc("never", "service", "echo socket=$NOTIFY_SOCKET; exec sleep 1000", ",\"readySignal\":true,\"timeoutSec\":2"),
                    svc("victim", "service", "exec sleep 1000", ",\"readySignal\":true,\"timeoutSec\":4"),
                    // sends READY=1 to victim's socket (it knows the path): must not count for victim
                    svc("spoofer", "service", "NOTIFY_SOCKET=" + ServiceNotify.socketPath("victim")
                            + " sdnotify READY=1 && echo spoof sent; exec sleep 1000", "")));
            expectState(srv, vm, "db", "activating/start");
            expectState(srv, vm, "app", "activating/waiting");
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "db", "active/running");
                expectState(srv, vm, "app", "active/running");
                expectState(srv, vm, "never", "failed/failed");
                expectState(srv, vm, "victim", "failed/failed");
            });
            assertThat(logs(srv, vm, "app")).contains("db ready: yes");
            assertThat(logs(srv, vm, "db")).contains("ready (READY=1)");
            assertThat(status(srv, vm, "db").get("description").asText()).contains("status: \"accepting connections\"");
            assertThat(status(srv, vm, "never").get("description").asText()).contains("result timeout");
            assertThat(logs(srv, vm, "never")).contains("socket=" + ServiceNotify.socketPath("never"))
                    .contains("no READY=1 within 2s");
            assertThat(logs(srv, vm, "spoofer")).contains("spoof sent");
            assertThat(status(srv, vm, "victim").get("description").asText()).contains("result timeout");

            // the start route returns once READY=1 arrived (db takes 3 s), and reports a start that timed out
            var stop = srv.post("/v1/vms/" + vm + "/systemd/stop", "{\"services\":[{\"id\":\"db\"}]}");
            assertThat(stop.status()).as(stop.body()).isEqualTo(200);
            long t0 = System.nanoTime();
            var start = srv.post("/v1/vms/" + vm + "/systemd/start", "{\"services\":[{\"id\":\"db\"},{\"id\":\"never\"}]}");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertThat(start.status()).as(start.body()).isEqualTo(200);
            var results = start.json().get("results");
            assertThat(results.get(0).get("success").asBoolean()).as(start.body()).isTrue();
            assertThat(results.get(1).get("success").asBoolean()).as(start.body()).isFalse();
            assertThat(results.get(1).get("message").asText()).contains("READY=1");
            assertThat(ms).isGreaterThanOrEqualTo(2900);
            expectState(srv, vm, "db", "active/running");
            expectState(srv, vm, "never", "failed/failed");

            // added at run time: the add answers once it is ready
            var added = srv.post("/v1/vms/" + vm + "/systemd/services", svc("late", "service",
                    "sleep 1; sdnotify READY=1; exec sleep 1000", ",\"readySignal\":true,\"timeoutSec\":10"));
            assertThat(added.status()).as(added.body()).isEqualTo(200);
            assertThat(added.json().get("success").asBoolean()).as(added.body()).isTrue();
            expectState(srv, vm, "late", "active/running");
            // removing it removes its socket directory on the host
            Path notifyDir = srv.dataDir.resolve("runc").resolve("vms").resolve(vm).resolve("notify");
            assertThat(notifyDir.resolve(ServiceNotify.key("late")).resolve("notify")).exists();
            assertThat(srv.delete("/v1/vms/" + vm + "/systemd/services/late").status()).isEqualTo(200);
            assertThat(notifyDir.resolve(ServiceNotify.key("late"))).doesNotExist();

            assertThat(srv.delete("/v1/vms/" + vm).status()).isEqualTo(200);
            assertThat(srv.dataDir.resolve("runc").resolve("vms").resolve(vm)).doesNotExist();
            assertThat(HostInspection.leftovers(vm, srv.dataDir, srv.server.nodeId())).isEmpty();
        }
    }

    @Test
    void watchdogKillsASilentServiceAndSurvivesSuspendAndServerRestart() {
        TestServer srv = TestServer.start("builtin:busybox");
        TestServer restarted = null;
        try {
            String vm = createWithSender(srv, String.join(",",
                    // pings three times, then falls silent: killed (SIGABRT) and restarted by its policy
                    svc("flaky", "service", "echo run; for i in 1 2 3; do sdnotify WATCHDOG=1; sleep 0.5; done; "
                            + "echo stopped pinging; exec sleep 1000",
                            ",\"watchdogSec\":2,\"restartPolicy\":{\"policy\":\"always\",\"restartSec\":0.5,\"startLimitBurst\":0}"),
                    svc("steady", "service", "echo usec=$WATCHDOG_USEC; echo $$ > /tmp/steady.pid; "
                            + "while :; do sdnotify WATCHDOG=1 2>/dev/null; sleep 0.5; done", ",\"watchdogSec\":4"),
                    svc("silent", "service", "exec sleep 1000", ",\"watchdogSec\":1")));
            await().atMost(WAIT).untilAsserted(() -> {
                expectState(srv, vm, "silent", "failed/failed");
                assertThat(logs(srv, vm, "flaky").lines().filter(l -> l.equals("run")).count()).isGreaterThanOrEqualTo(2);
            });
            assertThat(status(srv, vm, "silent").get("description").asText()).contains("result watchdog");
            assertThat(logs(srv, vm, "silent")).contains("watchdog: no WATCHDOG=1 for 1s; sending SIGABRT");
            String flaky = logs(srv, vm, "flaky");
            assertThat(flaky).contains("stopped pinging").contains("watchdog: no WATCHDOG=1 for 2s")
                    .contains("exited: result watchdog");
            expectState(srv, vm, "steady", "active/running");
            assertThat(logs(srv, vm, "steady")).contains("usec=4000000").doesNotContain("watchdog");
            String pid = sh(srv, vm, "cat /tmp/steady.pid");

            // suspended for longer than the watchdog interval: the frozen time does not count
            assertThat(srv.post("/v1/vms/" + vm + "/suspend", null).status()).isEqualTo(200);
            sleep(5000);
            assertThat(srv.post("/v1/vms/" + vm + "/start", null).status()).isEqualTo(200);
            sleep(3000);
            expectState(srv, vm, "steady", "active/running");
            assertThat(sh(srv, vm, "cat /tmp/steady.pid")).isEqualTo(pid);

            // a server restart: while nobody listens the supervisor does not judge; afterwards pings count again
            srv.server.close();
            sleep(5000);
            restarted = TestServer.start("builtin:busybox", srv.dataDir);
            TestServer srv2 = restarted;
            sleep(6000);
            expectState(srv2, vm, "steady", "active/running");
            assertThat(sh(srv2, vm, "cat /tmp/steady.pid")).isEqualTo(pid);
            assertThat(logs(srv2, vm, "steady")).doesNotContain("watchdog");
            // and it is enforced again: silent restarted now fails anew
            var r = srv2.post("/v1/vms/" + vm + "/systemd/restart", "{\"services\":[{\"id\":\"silent\"}]}");
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            await().atMost(WAIT).untilAsserted(() -> assertThat(logs(srv2, vm, "silent").lines()
                    .filter(l -> l.contains("exited: result watchdog")).count()).isEqualTo(2));

            assertThat(srv2.delete("/v1/vms/" + vm).status()).isEqualTo(200);
            assertThat(srv2.dataDir.resolve("runc").resolve("vms").resolve(vm)).doesNotExist();
            assertThat(HostInspection.leftovers(vm, srv2.dataDir, srv2.server.nodeId())).isEmpty();
        } finally {
            if (restarted != null) restarted.close();
            else srv.close();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
