package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Fault injection: the server process halts (as with SIGKILL) at every step of create, start, resume,
 * suspend, stop, kill and delete, is started again on the same data dir, and then: every VM is in a valid
 * (non-transitional) status that matches the host, surviving VMs are usable, and after deleting them
 * nothing of theirs is left on the host. The observed outcomes are printed as a table.
 */
class CrashRecoveryTest {
    static final Set<String> STABLE = Set.of("running", "suspended", "stopped", "hibernated", "failed");
    static final List<String> TABLE = new ArrayList<>();

    static Stream<Arguments> steps() {
        // failpoint, what to do before, the operation (method path), expected status after restart (null: VM gone)
        return Stream.of(
                Arguments.of("create.after-intent", "none", "create", null),
                Arguments.of("driver.create.after-rootfs", "none", "create", null),
                Arguments.of("create.after-driver", "none", "create", null),
                Arguments.of("suspend.after-intent", "running", "suspend", "running"),
                Arguments.of("suspend.after-driver", "running", "suspend", "suspended"),
                Arguments.of("resume.after-intent", "suspended", "start", "suspended"),
                Arguments.of("resume.after-driver", "suspended", "start", "running"),
                Arguments.of("stop.after-intent", "running", "stop", "running"),
                Arguments.of("stop.after-driver", "running", "stop", "stopped"),
                Arguments.of("kill.after-intent", "running", "kill", "running"),
                Arguments.of("kill.after-driver", "running", "kill", "stopped"),
                Arguments.of("start.after-intent", "stopped", "start", "stopped"),
                Arguments.of("start.after-driver", "stopped", "start", "running"),
                // a snapshot changes no status; a half-made one (driver done, no row) is removed at restart
                Arguments.of("snapshot.after-intent", "running", "snapshot", "running"),
                Arguments.of("snapshot.after-driver", "running", "snapshot", "running"),
                Arguments.of("delete.after-intent", "running", "delete", null),
                Arguments.of("driver.destroy.after-container", "running", "delete", null),
                Arguments.of("delete.after-driver", "running", "delete", null));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("steps")
    void haltAtEveryStepThenRecover(String failpoint, String before, String op, String expected) throws Exception {
        Path dir = Files.createTempDirectory("burrow-crash-");
        String id = null;
        String observed;
        String node;
        try (ServerProcess s1 = ServerProcess.start(dir.resolve("data"), Map.of("BURROW_FAILPOINT", failpoint))) {
            node = Files.readString(dir.resolve("data/node-id")).strip();
            if (!before.equals("none")) {
                var c = s1.call("POST", "/v1/vms", "{}");
                assertThat(c.status()).as(c.body()).isEqualTo(200);
                id = c.json().get("id").asText();
                s1.call("POST", "/v1/vms/" + id + "/exec-await", "{\"command\":\"echo before-crash > /root/mark\"}");
                if (before.equals("suspended")) assertThat(s1.call("POST", "/v1/vms/" + id + "/suspend", null).status()).isEqualTo(200);
                if (before.equals("stopped")) assertThat(s1.call("POST", "/v1/vms/" + id + "/stop", null).status()).isEqualTo(200);
            }
            var r = switch (op) {
                case "create" -> s1.call("POST", "/v1/vms", "{\"labels\":{\"crash\":\"" + failpoint + "\"}}");
                case "delete" -> s1.call("DELETE", "/v1/vms/" + id, null);
                default -> s1.call("POST", "/v1/vms/" + id + "/" + op, null);
            };
            assertThat(r.status()).as("the request must die with the server: " + r).isEqualTo(-1);
            assertThat(s1.awaitExit(Duration.ofSeconds(30))).isEqualTo(137);
        }
        try (ServerProcess s2 = ServerProcess.start(dir.resolve("data"), Map.of())) {
            var all = s2.call("GET", "/v1/vms?includeDeleted=true", null).json().get("vms");
            assertThat(all).as("one VM was involved").hasSize(1);
            var vm = all.get(0);
            id = vm.get("id").asText();
            String status = vm.get("status").asText();
            observed = status + (vm.hasNonNull("statusReason") ? " (" + vm.get("statusReason").asText() + ")" : "");
            if (expected == null) {
                assertThat(status).as(observed).isEqualTo("deleted");
            } else {
                assertThat(status).as(observed).isEqualTo(expected);
                assertThat(STABLE).contains(status);
                // usable: it can be brought up and used, and the disk survived the crash
                assertThat(s2.call("POST", "/v1/vms/" + id + "/start", null).status()).isEqualTo(200);
                var e = s2.call("POST", "/v1/vms/" + id + "/exec-await", "{\"command\":\"cat /root/mark\"}");
                assertThat(e.json().get("stdout").asText()).isEqualTo("before-crash\n");
                assertThat(s2.call("DELETE", "/v1/vms/" + id, null).status()).isEqualTo(200);
            }
            assertThat(HostInspection.leftovers(id, dir.resolve("data"), node)).as("host after " + failpoint).isEmpty();
            if (op.equals("snapshot")) {
                assertThat(s2.call("GET", "/v1/vms/snapshots", null).json().get("totalCount").asInt())
                        .as("a snapshot whose request died is not listed").isZero();
                assertThat(snapshotDirs(dir.resolve("data"))).as("driver snapshots after restart").isEmpty();
            }
        }
        synchronized (TABLE) {
            TABLE.add(String.format("| %-30s | %-9s | %s |", failpoint, before, observed));
        }
        deleteTree(dir);
    }

    @Test
    void sigkillWithVmsInEveryStateLosesNothing() throws Exception {
        Path dir = Files.createTempDirectory("burrow-crash-");
        List<String> ids = new ArrayList<>();
        String node;
        try (ServerProcess s1 = ServerProcess.start(dir.resolve("data"), Map.of())) {
            node = Files.readString(dir.resolve("data/node-id")).strip();
            for (int i = 0; i < 3; i++) ids.add(s1.call("POST", "/v1/vms", "{}").json().get("id").asText());
            s1.call("POST", "/v1/vms/" + ids.get(1) + "/suspend", null);
            s1.call("POST", "/v1/vms/" + ids.get(2) + "/stop", null);
            s1.kill();
        }
        try (ServerProcess s2 = ServerProcess.start(dir.resolve("data"), Map.of())) {
            assertThat(s2.call("GET", "/v1/vms/" + ids.get(0), null).json().get("status").asText()).isEqualTo("running");
            assertThat(s2.call("GET", "/v1/vms/" + ids.get(1), null).json().get("status").asText()).isEqualTo("suspended");
            assertThat(s2.call("GET", "/v1/vms/" + ids.get(2), null).json().get("status").asText()).isEqualTo("stopped");
            for (String id : ids) {
                var e = s2.call("POST", "/v1/vms/" + id + "/exec-await", "{\"command\":\"echo ok\"}");
                if (!id.equals(ids.get(2))) assertThat(e.json().get("stdout").asText()).isEqualTo("ok\n");
                assertThat(s2.call("DELETE", "/v1/vms/" + id, null).status()).isEqualTo(200);
                assertThat(HostInspection.leftovers(id, dir.resolve("data"), node)).isEmpty();
            }
        }
        deleteTree(dir);
    }

    @Test
    void runcFailingMidCreateLeavesNothing() throws Exception {
        Path dir = Files.createTempDirectory("burrow-crash-");
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path fake = bin.resolve("runc");
        // a runc that fails exactly the container start, as a broken runtime or an exhausted host would
        Files.writeString(fake, "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = run ] && { echo 'runc: simulated failure' >&2; exit 1; }; done\n"
                + "exec /usr/sbin/runc \"$@\"\n");
        fake.toFile().setExecutable(true);
        try (ServerProcess s = ServerProcess.start(dir.resolve("data"), Map.of("PATH", bin + ":" + System.getenv("PATH")))) {
            String node = Files.readString(dir.resolve("data/node-id")).strip();
            var r = s.call("POST", "/v1/vms", "{}");
            assertThat(r.status()).isEqualTo(500);
            // the client gets the code and a reference, never runc's own words; the server log has them under that ref
            assertThat(r.json().get("code").asText()).isEqualTo("DRIVER_ERROR");
            assertThat(r.body()).doesNotContain("simulated failure").doesNotContain("runc");
            String ref = r.json().get("message").asText().replaceAll(".*\\(ref ([0-9a-f]+);.*", "$1");
            assertThat(Files.readAllLines(s.log)).anyMatch(l -> l.contains("ref=" + ref))
                    .anyMatch(l -> l.contains("simulated failure"));
            var all = s.call("GET", "/v1/vms?includeDeleted=true", null).json().get("vms");
            assertThat(all).hasSize(1);
            assertThat(all.get(0).get("status").asText()).isEqualTo("deleted");
            assertThat(HostInspection.leftovers(all.get(0).get("id").asText(), dir.resolve("data"), node)).isEmpty();
        }
        deleteTree(dir);
    }

    @AfterAll
    static void printTable() {
        System.out.println("| failpoint                      | before    | status after restart |");
        System.out.println("|--------------------------------|-----------|----------------------|");
        TABLE.stream().sorted().forEach(System.out::println);
    }

    /** Whatever the driver keeps of snapshots (named by their sc- id) under a data dir, whatever the storage. */
    static List<Path> snapshotDirs(Path dataDir) throws Exception {
        try (var walk = Files.walk(dataDir, 5)) {
            return walk.filter(p -> p.getFileName().toString().startsWith("sc-")).toList();
        }
    }

        static void deleteTree(Path dir) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.contains(dir.toString())) return;
        }
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
