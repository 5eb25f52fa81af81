package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.SandboxSpec;

/** What a process inside a VM sees and may do: limits, capabilities, seccomp, namespaces, exec details. */
class RuncDriverIsolationTest {
    /** Docker's default capability set as a CapEff mask (bits 0,1,3-8,10,13,18,27,29,31). */
    private static final String DOCKER_DEFAULT_CAPS = "00000000a80425fb";

    private static RuncTestHost host;
    private static String vm;

    @BeforeAll
    static void startVm() throws IOException {
        host = RuncTestHost.start();
        vm = RuncTestHost.newVmId();
        host.driver.create(new SandboxSpec(vm, RuncTestHost.IMAGE, 2, 300, 64, Map.of("FROM_SPEC", "spec"), "/root",
                "isolated"));
    }

    @AfterAll
    static void tearDown() {
        if (host != null) host.close();
    }

    @Test
    void cgroupLimitsMatchTheSpecInsideAndOnTheHost() throws IOException {
        // With a cgroup namespace the VM sees its own cgroup as the root of each hierarchy.
        assertThat(host.ok(vm, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").strip())
                .isEqualTo(Long.toString(300L * 1024 * 1024));
        assertThat(host.ok(vm, "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").strip())
                .as("swap limited to nothing beyond memory").isEqualTo(Long.toString(300L * 1024 * 1024));
        assertThat(host.ok(vm, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us").strip()).isEqualTo("200000");
        assertThat(host.ok(vm, "cat /sys/fs/cgroup/cpu/cpu.cfs_period_us").strip()).isEqualTo("100000");
        assertThat(host.ok(vm, "cat /sys/fs/cgroup/pids/pids.max").strip()).isEqualTo("64");
        assertThat(host.cgroupFile("memory", vm, "memory.limit_in_bytes")).isEqualTo(Long.toString(300L * 1024 * 1024));
        assertThat(host.cgroupFile("cpu", vm, "cpu.cfs_quota_us")).isEqualTo("200000");
        assertThat(host.ok(vm, "echo x > /sys/fs/cgroup/pids/pids.max 2>&1 || echo refused")).contains("refused");
    }

    @Test
    void pidsLimitIsEnforced() throws IOException {
        String vm2 = RuncTestHost.newVmId();
        host.driver.create(new SandboxSpec(vm2, RuncTestHost.IMAGE, 1, 128, 12, Map.of(), null, null));
        try {
            ExecResult r = host.sh(vm2, "i=0; while [ $i -lt 30 ]; do sleep 60 >/dev/null 2>&1 & i=$((i+1)); done; echo all-forked");
            assertThat(r.stdout()).doesNotContain("all-forked");
            assertThat(r.stderr()).contains("fork");
            assertThat(host.cgroupFile("pids", vm2, "pids.events")).matches("max [1-9][0-9]*");
            assertThat(Long.parseLong(host.cgroupFile("pids", vm2, "pids.current"))).isLessThanOrEqualTo(12);
        } finally {
            host.driver.destroy(vm2);
        }
    }

    @Test
    void memoryLimitIsEnforced() throws IOException {
        // Allocates ~400 MiB of shell string in a 300 MiB VM without swap: the OOM killer must end it.
        ExecResult r = host.sh(vm, "x=$(head -c 419430400 /dev/zero | tr '\\0' a); echo survived ${#x}");
        assertThat(r.stdout()).doesNotContain("survived");
        assertThat(r.exitCode()).as("killed by SIGKILL").isEqualTo(137);
        assertThat(host.cgroupFile("memory", vm, "memory.oom_control")).containsPattern("oom_kill [1-9]");
        assertThat(host.ok(vm, "echo alive")).isEqualTo("alive\n");
    }

    @Test
    void processesHaveDockersCapabilitiesNoNewPrivsAndSeccomp() {
        String status = host.ok(vm, "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status");
        assertThat(status).contains("CapEff:\t" + DOCKER_DEFAULT_CAPS, "CapPrm:\t" + DOCKER_DEFAULT_CAPS,
                "CapBnd:\t" + DOCKER_DEFAULT_CAPS, "CapInh:\t0000000000000000", "CapAmb:\t0000000000000000",
                "NoNewPrivs:\t1", "Seccomp:\t2");
        // The init gets the same treatment as exec'd processes.
        assertThat(host.ok(vm, "grep -E '^(CapEff|Seccomp):' /proc/1/status"))
                .contains("CapEff:\t" + DOCKER_DEFAULT_CAPS, "Seccomp:\t2");
        // Blocked by seccomp (unshare needs no capability for a user namespace) and by capabilities (mount).
        assertThat(host.sh(vm, "unshare -U true").exitCode()).isNotZero();
        assertThat(host.sh(vm, "mount -t tmpfs none /mnt").exitCode()).isNotZero();
        assertThat(host.sh(vm, "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda").exitCode())
                .as("block devices are denied by the device cgroup").isNotZero();
    }

    @Test
    void namespacesHideTheHost() {
        assertThat(host.ok(vm, "ls /sys/class/net")).isEqualTo("lo\n");
        assertThat(host.ok(vm, "hostname")).isEqualTo("isolated\n");
        assertThat(host.ok(vm, "echo $$")).as("exec'd shells run in the VM's pid namespace").isNotEqualTo("1\n");
        assertThat(host.ok(vm, "cat /proc/1/cmdline | tr '\\0' ' '")).contains("while :; do sleep 3600");
        assertThat(host.sh(vm, "cat /proc/kcore").exitCode()).isNotZero();
        assertThat(host.sh(vm, "echo 1 > /proc/sys/kernel/sysrq").exitCode()).isNotZero();
    }

    @Test
    void execHonoursEnvWorkdirStdinAndOutputLimit() {
        assertThat(host.ok(vm, "pwd")).as("the spec's workdir").isEqualTo("/root\n");
        assertThat(host.ok(vm, "echo $FROM_SPEC")).isEqualTo("spec\n");
        ExecResult r = host.driver.exec(vm, new ExecRequest("pwd; echo $A $FROM_SPEC; cat", Map.of("A", "b c", "FROM_SPEC", "override"),
                "/tmp", Duration.ofSeconds(30), "from stdin".getBytes(StandardCharsets.UTF_8), 0));
        assertThat(r.stdout()).isEqualTo("/tmp\nb c override\nfrom stdin");
        assertThat(r.truncated()).isFalse();

        ExecResult big = host.driver.exec(vm, new ExecRequest("yes | head -c 100000; echo done >&2", Map.of(), null,
                Duration.ofSeconds(30), null, 1000));
        assertThat(big.stdout()).hasSize(1000);
        assertThat(big.stderr()).isEqualTo("done\n");
        assertThat(big.truncated()).isTrue();
        assertThat(big.exitCode()).isZero();

        // Without stdin the command reads /dev/null, so it does not hang.
        assertThat(host.ok(vm, "cat; echo eof")).isEqualTo("eof\n");
        // Shell metacharacters are the command's business; the host never sees them as a shell string.
        assertThat(host.ok(vm, "echo '$(id)' \"`echo ok`\"; echo ';|&'")).isEqualTo("$(id) ok\n;|&\n");
    }

    @Test
    void resizeChangesLimitsLiveAndForTheNextStart() throws IOException {
        String vm2 = RuncTestHost.newVmId();
        host.driver.create(new SandboxSpec(vm2, RuncTestHost.IMAGE, 1, 128, 0, Map.of(), null, null));
        try {
            assertThat(host.driver.capabilities().liveResize()).isTrue();
            host.driver.resize(vm2, 2, 512);
            assertThat(host.cgroupFile("memory", vm2, "memory.limit_in_bytes")).isEqualTo(Long.toString(512L << 20));
            assertThat(host.cgroupFile("memory", vm2, "memory.memsw.limit_in_bytes")).isEqualTo(Long.toString(512L << 20));
            assertThat(host.cgroupFile("cpu", vm2, "cpu.cfs_quota_us")).isEqualTo("200000");
            host.driver.stop(vm2, Duration.ofSeconds(5));
            host.driver.resize(vm2, 1, 64);
            host.driver.start(vm2);
            assertThat(host.cgroupFile("memory", vm2, "memory.limit_in_bytes")).isEqualTo(Long.toString(64L << 20));
            assertThat(host.cgroupFile("cpu", vm2, "cpu.cfs_quota_us")).isEqualTo("100000");
        } finally {
            host.driver.destroy(vm2);
        }
    }
}
