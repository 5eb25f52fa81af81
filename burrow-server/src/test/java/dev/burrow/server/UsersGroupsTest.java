package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;

import org.junit.jupiter.api.Test;

import dev.burrow.core.store.VmQuery;

/** {@code users} and {@code groups} at create over HTTP against real runc: real accounts, usable by services. */
class UsersGroupsTest {

    static String sh(TestServer srv, String vm, String cmd) {
        var r = srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":" + ServicesApiTest.quote(cmd) + "}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("stdout").asText();
    }

    @Test
    void usersAndGroupsBecomeRealAccountsInADebianVm() {
        try (TestServer srv = TestServer.start("builtin:debian")) {
            String vm = srv.createVm("{\"groups\":[{\"name\":\"devs\",\"gid\":2345},{\"name\":\"ops\",\"system\":true}],"
                    + "\"users\":[{\"name\":\"alice\",\"uid\":1500,\"gecos\":\"Alice Liddell\",\"groups\":[\"devs\",\"ops\"]},"
                    + "{\"name\":\"bob\"},{\"name\":\"svc\",\"system\":true},"
                    + "{\"name\":\"carol\",\"home\":\"/srv/carol\",\"shell\":\"/bin/sh\",\"groups\":[\"devs\"]}],"
                    + "\"systemd\":{\"services\":[{\"name\":\"whoami\",\"mode\":\"oneshot\",\"user\":\"alice\","
                    + "\"exec\":[\"id; touch $HOME/made-by-service\"]}]}}");
            assertThat(sh(srv, vm, "grep -E '^(alice|bob|carol):' /etc/passwd")).isEqualTo(
                    "alice:x:1500:1500:Alice Liddell:/home/alice:/bin/bash\n"
                            + "bob:x:1000:1000::/home/bob:/bin/bash\n"
                            + "carol:x:1001:1001::/srv/carol:/bin/sh\n");
            // system accounts are allocated below 1000, from the top, ids unique across users and groups
            String svc = sh(srv, vm, "grep '^svc:' /etc/passwd").strip();
            assertThat(svc).matches("svc:x:(\\d{3}):\\1::/:/usr/sbin/nologin");
            String ops = sh(srv, vm, "grep '^ops:' /etc/group").strip();
            assertThat(ops).matches("ops:x:\\d{3}:alice");
            assertThat(ops.split(":")[2]).isNotEqualTo(svc.split(":")[2]);
            assertThat(sh(srv, vm, "grep '^devs:' /etc/group")).isEqualTo("devs:x:2345:alice,carol\n");
            assertThat(sh(srv, vm, "id alice")).startsWith("uid=1500(alice) gid=1500(alice) groups=")
                    .contains("(ops)").contains("2345(devs)");
            assertThat(sh(srv, vm, "stat -c '%U:%G %a' /home/alice /home/bob /srv/carol"))
                    .isEqualTo("alice:alice 750\nbob:bob 750\ncarol:carol 750\n");
            assertThat(sh(srv, vm, "grep -c '^alice:!:' /etc/shadow")).isEqualTo("1\n");
            assertThat(sh(srv, vm, "test -e /home/svc || echo no-home-for-system-users")).isEqualTo("no-home-for-system-users\n");
            // a service runs as the user, with the user's groups and home
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                    assertThat(sh(srv, vm, "stat -c %U /home/alice/made-by-service 2>/dev/null")).isEqualTo("alice\n"));
            // exec as the user, as the SDK's vm.user({username}).exec() sends it
            var asAlice = srv.call("POST", "/v1/vms/" + vm + "/exec-await", "{\"command\":\"id -un; echo $HOME; touch ~/by-exec\"}",
                    TestServer.KEY, java.util.Map.of("X-Freestyle-Vm-Linux-User-Id", "alice"));
            assertThat(asAlice.status()).as(asAlice.body()).isEqualTo(200);
            assertThat(asAlice.json().get("stdout").asText()).isEqualTo("alice\n/home/alice\n");
            assertThat(sh(srv, vm, "stat -c %U /home/alice/by-exec")).isEqualTo("alice\n");
            var ghost = srv.call("POST", "/v1/vms/" + vm + "/exec-await", "{\"command\":\"id\"}", TestServer.KEY,
                    java.util.Map.of("X-Freestyle-Vm-Linux-User-Id", "ghost"));
            assertThat(ghost.status()).as(ghost.body()).isBetween(400, 499);
            var logs = srv.get("/v1/vms/" + vm + "/systemd/services/whoami/logs").json().get("logs").toString();
            assertThat(logs).contains("uid=1500(alice) gid=1500(alice)").contains("2345(devs)").contains("(ops)");
        }
    }

    @Test
    void accountsWorkInBusyboxAndConflictsFailTheCreateCleanly() {
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            String vm = srv.createVm("{\"groups\":[{\"name\":\"team\"}],\"users\":[{\"name\":\"dev\",\"groups\":[\"team\"]}],"
                    + "\"systemd\":{\"services\":[{\"name\":\"as-dev\",\"mode\":\"oneshot\",\"user\":\"dev\",\"exec\":[\"id -un > /tmp/who\"]}]}}");
            assertThat(sh(srv, vm, "grep '^dev:' /etc/passwd | cut -d: -f1,6,7; grep '^team:' /etc/group | cut -d: -f1,4"))
                    .isEqualTo("dev:/home/dev:/bin/sh\nteam:dev\n");
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(sh(srv, vm, "cat /tmp/who 2>/dev/null")).isEqualTo("dev\n"));
            int live = srv.server.lifecycle().list(VmQuery.all()).size();
            for (String body : new String[] {
                    "{\"users\":[{\"name\":\"x\",\"groups\":[\"nosuchgroup\"]}]}",
                    "{\"users\":[{\"name\":\"root\",\"uid\":1234}]}",
                    "{\"groups\":[{\"name\":\"g1\",\"gid\":5000},{\"name\":\"g2\",\"gid\":5000}]}"}) {
                var r = srv.post("/v1/vms", body);
                assertThat(r.status()).as(body + " -> " + r.body()).isEqualTo(400);
                assertThat(r.json().get("code").asText()).isEqualTo("CREATE_VM_SETUP_FAILED");
                assertThat(r.json().get("message").asText()).containsAnyOf("does not exist", "exists with uid", "is taken");
            }
            assertThat(srv.server.lifecycle().list(VmQuery.all())).hasSize(live);
        }
    }
}
