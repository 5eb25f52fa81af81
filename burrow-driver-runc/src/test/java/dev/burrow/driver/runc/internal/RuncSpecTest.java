package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.driver.runc.RuncDriverConfig;

class RuncSpecTest {
    private static final RuncDriverConfig CONFIG =
            new RuncDriverConfig(Path.of("/data"), Path.of("/images"), Path.of("/run/x"), "node1", 777);
    private static final UnpackedImage IMAGE = new UnpackedImage("builtin:busybox", "sha256:abc", Path.of("/images/x/rootfs"),
            Map.of("PATH", "/image/bin", "LANG", "C.UTF-8", "SHARED", "image"), "work", List.of("sh"), "0");

    private static ObjectNode build(SandboxSpec spec) {
        return RuncSpec.build(Path.of("/data/vms/vm1/rootfs"), spec, IMAGE, CONFIG);
    }

    private static SandboxSpec spec(Map<String, String> env, String workdir, String hostname) {
        return new SandboxSpec("vm1", "builtin:busybox", 3, 512, 0, env, workdir, hostname);
    }

    @Test
    void processRunsTheReapingInitAsRootWithDockersCapabilitiesOnly() {
        JsonNode p = build(spec(Map.of(), null, null)).path("process");
        assertThat(strings(p.path("args"))).containsExactlyElementsOf(RuncSpec.INIT_ARGS);
        assertThat(p.path("terminal").asBoolean()).isFalse();
        assertThat(p.path("user").path("uid").asInt()).isZero();
        assertThat(p.path("noNewPrivileges").asBoolean()).isTrue();
        for (String set : List.of("bounding", "effective", "permitted")) {
            assertThat(strings(p.path("capabilities").path(set))).containsExactlyInAnyOrder(
                    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE");
        }
        assertThat(p.path("capabilities").path("ambient")).isEmpty();
        assertThat(p.path("capabilities").path("inheritable")).isEmpty();
        JsonNode nofile = p.path("rlimits").get(0);
        assertThat(nofile.path("type").asText()).isEqualTo("RLIMIT_NOFILE");
        assertThat(nofile.path("soft").asLong()).isPositive().isLessThanOrEqualTo(nofile.path("hard").asLong());
    }

    @Test
    void environmentLayersDefaultsImageAndSpecInThatOrder() {
        JsonNode p = build(spec(Map.of("SHARED", "spec", "OWN", "1"), null, null)).path("process");
        List<String> env = strings(p.path("env"));
        assertThat(env).contains("PATH=/image/bin", "LANG=C.UTF-8", "SHARED=spec", "OWN=1", "HOME=/root");
        assertThat(env).filteredOn(e -> e.startsWith("SHARED=")).hasSize(1);
        assertThat(strings(build(new SandboxSpec("vm1", "x", 1, 64, 0, Map.of(), null, null)).path("process").path("env")))
                .contains("PATH=/image/bin");
        assertThatThrownBy(() -> build(spec(Map.of("A=B", "x"), null, null))).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("INVALID_ENV"));
    }

    @Test
    void workdirPrefersSpecThenImageThenRoot() {
        assertThat(build(spec(Map.of(), "/srv", null)).path("process").path("cwd").asText()).isEqualTo("/srv");
        assertThat(build(spec(Map.of(), null, null)).path("process").path("cwd").asText()).isEqualTo("/work");
        UnpackedImage noWorkdir = new UnpackedImage("r", "d", Path.of("/r"), Map.of(), null, List.of(), null);
        assertThat(RuncSpec.build(Path.of("/r"), spec(Map.of(), "", null), noWorkdir, CONFIG).path("process").path("cwd").asText())
                .isEqualTo("/");
        assertThatThrownBy(() -> build(spec(Map.of(), "relative", null))).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("INVALID_WORKDIR"));
    }

    @Test
    void resourcesCgroupAndNamespaces() {
        ObjectNode c = build(spec(Map.of(), null, null));
        JsonNode linux = c.path("linux");
        assertThat(linux.path("cgroupsPath").asText()).isEqualTo("/burrow-node1/vm1");
        assertThat(linux.path("resources").path("cpu").path("quota").asLong()).isEqualTo(300_000);
        assertThat(linux.path("resources").path("cpu").path("period").asLong()).isEqualTo(100_000);
        assertThat(linux.path("resources").path("memory").path("limit").asLong()).isEqualTo(512L << 20);
        assertThat(linux.path("resources").path("memory").path("swap").asLong()).isEqualTo(512L << 20);
        assertThat(linux.path("resources").path("pids").path("limit").asLong()).as("config default").isEqualTo(777);
        assertThat(linux.path("namespaces").findValuesAsText("type"))
                .containsExactlyInAnyOrder("pid", "network", "ipc", "uts", "mount", "cgroup");
        assertThat(linux.path("namespaces").findValues("path")).as("all new, none joined").isEmpty();
        assertThat(strings(linux.path("maskedPaths"))).contains("/proc/kcore", "/proc/keys", "/sys/firmware");
        assertThat(strings(linux.path("readonlyPaths"))).contains("/proc/sys", "/proc/sysrq-trigger");
        assertThat(linux.path("seccomp").path("defaultAction").asText()).isNotEmpty();
        assertThat(linux.path("seccomp").path("syscalls").size()).isPositive();
        assertThat(c.path("root").path("path").asText()).isEqualTo("/data/vms/vm1/rootfs");
        assertThat(c.path("root").path("readonly").asBoolean()).isFalse();
        assertThat(c.path("hostname").asText()).isEqualTo("vm1");
        assertThat(c.path("annotations").path("dev.burrow.vm-id").asText()).isEqualTo("vm1");
        assertThat(c.path("annotations").path("dev.burrow.node-id").asText()).isEqualTo("node1");
        assertThat(c.path("mounts").findValuesAsText("destination"))
                .containsExactly("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/.burrow");
        // Burrow's tools are visible to the VM but cannot be changed by it.
        var tools = c.path("mounts").get(7);
        assertThat(tools.path("type").asText()).isEqualTo("bind");
        assertThat(java.util.stream.StreamSupport.stream(tools.path("options").spliterator(), false).map(n -> n.asText()).toList())
                .contains("bind", "ro", "nosuid", "nodev");
        assertThat(build(new SandboxSpec("vm1", "x", 1, 64, 9, Map.of(), null, "my-host.example"))
                .path("linux").path("resources").path("pids").path("limit").asLong()).isEqualTo(9);
    }

    @Test
    void invalidResourcesAndHostnamesAreBadRequests() {
        for (SandboxSpec bad : List.of(new SandboxSpec("vm1", "x", 0, 64, 0, Map.of(), null, null),
                new SandboxSpec("vm1", "x", 1, 4, 0, Map.of(), null, null),
                new SandboxSpec("vm1", "x", 1, 64, 0, Map.of(), null, "-bad"),
                new SandboxSpec("vm1", "x", 1, 64, 0, Map.of(), null, "a b"))) {
            assertThatThrownBy(() -> build(bad)).isInstanceOfSatisfying(BurrowException.class,
                    e -> assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_REQUEST));
        }
    }

    @Test
    void setResourcesRewritesOnlyCpuAndMemory() {
        ObjectNode c = build(spec(Map.of(), null, null));
        RuncSpec.setResources(c, 1, 64);
        JsonNode r = c.path("linux").path("resources");
        assertThat(r.path("cpu").path("quota").asLong()).isEqualTo(100_000);
        assertThat(r.path("memory").path("limit").asLong()).isEqualTo(64L << 20);
        assertThat(r.path("pids").path("limit").asLong()).isEqualTo(777);
        assertThat(r.path("devices")).hasSize(1);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
