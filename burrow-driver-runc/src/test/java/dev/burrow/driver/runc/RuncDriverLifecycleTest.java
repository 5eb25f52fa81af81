package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.ImageFacet.ProgressListener;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;
import dev.burrow.driver.runc.internal.HostCommand;
import dev.burrow.driver.runc.internal.ImageStore;
import dev.burrow.driver.runc.internal.UnpackedImage;

/** The whole life of a VM against real runc, ending with proof that the host holds nothing of it. */
class RuncDriverLifecycleTest {
    private RuncTestHost host;
    private RuncDriver driver;

    @BeforeEach
    void setUp() throws IOException {
        host = RuncTestHost.start();
        driver = host.driver;
    }

    @AfterEach
    void tearDown() {
        if (host != null) host.close();
    }

    @Test
    void createExecSuspendStopStartDestroyLeavesNothing() throws IOException {
        String vm = RuncTestHost.newVmId();
        long t0 = System.nanoTime();
        String handle = driver.create(host.spec(vm));
        long createMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(handle).isEqualTo("burrow-" + vm);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.RUNNING);

        t0 = System.nanoTime();
        ExecResult hi = driver.exec(vm, ExecRequest.of("echo hi", Duration.ofSeconds(30)));
        long execMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(hi.stdout()).isEqualTo("hi\n");
        assertThat(hi.stderr()).isEmpty();
        assertThat(hi.exitCode()).isZero();
        assertThat(hi.timedOut()).isFalse();

        assertThat(host.sh(vm, "exit 3").exitCode()).isEqualTo(3);
        ExecResult err = host.sh(vm, "echo oops >&2; exit 1");
        assertThat(err.stderr()).isEqualTo("oops\n");
        assertThat(err.stdout()).isEmpty();
        assertThat(err.exitCode()).isEqualTo(1);
        assertThat(host.ok(vm, "hostname")).isEqualTo(vm + "\n");
        assertThat(host.ok(vm, "echo $BURROW_TEST $PATH")).startsWith("yes /usr/local/sbin");

        // Timeout: the command and its children inside the VM are killed, not only runc on the host.
        ExecResult slow = driver.exec(vm, ExecRequest.of("sleep 100 & sleep 100; wait", Duration.ofSeconds(1)));
        assertThat(slow.timedOut()).isTrue();
        assertThat(slow.exitCode()).isIn(124, 137);
        assertThat(slow.durationMs()).isLessThan(30_000);
        assertThat(processesInVm(vm, "sleep\u0000100")).isEmpty();
        assertThat(host.ok(vm, "echo still-usable")).isEqualTo("still-usable\n");

        host.ok(vm, "echo kept > /root/kept.txt");

        driver.suspend(vm);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.PAUSED);
        assertThat(host.cgroupFile("freezer", vm, "freezer.state")).isEqualTo("FROZEN");
        assertThatThrownBy(() -> driver.exec(vm, ExecRequest.of("true", Duration.ofSeconds(5))))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_RUNNING"));
        driver.resume(vm);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.RUNNING);
        assertThat(host.cgroupFile("freezer", vm, "freezer.state")).isEqualTo("THAWED");

        t0 = System.nanoTime();
        driver.stop(vm, Duration.ofSeconds(10));
        long stopMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(driver.state(vm)).isEqualTo(SandboxState.STOPPED);
        assertThat(host.leftovers(vm)).noneMatch(s -> s.startsWith("runc container") || s.startsWith("cgroup"));
        assertThatThrownBy(() -> driver.exec(vm, ExecRequest.of("true", Duration.ofSeconds(5))))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_RUNNING"));
        // The disk is kept while stopped, and readable through the files API.
        assertThat(driver.read(vm, "/root/kept.txt", 1024)).isInstanceOfSatisfying(FileContent.RegularFile.class,
                f -> assertThat(f.bytes()).asString().isEqualTo("kept\n"));

        t0 = System.nanoTime();
        driver.start(vm);
        long startMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(driver.state(vm)).isEqualTo(SandboxState.RUNNING);
        assertThat(host.ok(vm, "cat /root/kept.txt")).isEqualTo("kept\n");

        t0 = System.nanoTime();
        driver.destroy(vm);
        long destroyMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(driver.state(vm)).isEqualTo(SandboxState.ABSENT);
        assertThat(host.leftovers(vm)).isEmpty();

        driver.close();
        assertThat(host.nodeLeftovers()).isEmpty();
        System.out.printf("timings_ms create=%d exec=%d stop=%d start=%d destroy=%d%n",
                createMs, execMs, stopMs, startMs, destroyMs);
    }

    @Test
    void everyCallIsIdempotent() {
        String vm = RuncTestHost.newVmId();
        SandboxSpec spec = host.spec(vm);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.ABSENT);
        driver.destroy(vm);
        driver.stop(vm, Duration.ofSeconds(1));

        assertThat(driver.create(spec)).isEqualTo(driver.create(spec));
        host.ok(vm, "echo once > /tmp/marker");
        driver.start(vm);
        assertThat(host.ok(vm, "cat /tmp/marker")).as("start on a running VM must not restart it").isEqualTo("once\n");
        driver.suspend(vm);
        driver.suspend(vm);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.PAUSED);
        driver.resume(vm);
        driver.resume(vm);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.RUNNING);

        driver.stop(vm, Duration.ofSeconds(5));
        driver.stop(vm, Duration.ofSeconds(5));
        assertThat(driver.state(vm)).isEqualTo(SandboxState.STOPPED);
        assertThatThrownBy(() -> driver.suspend(vm))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_RUNNING"));

        driver.destroy(vm);
        driver.destroy(vm);
        assertThat(host.leftovers(vm)).isEmpty();
        assertThatThrownBy(() -> driver.start(vm))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_FOUND"));
    }

    @Test
    void stopAndDestroyEndPausedVmsAndOnesThatIgnoreTerm() throws IOException {
        String paused = RuncTestHost.newVmId();
        driver.create(host.spec(paused));
        driver.suspend(paused);
        driver.stop(paused, Duration.ofSeconds(5));
        assertThat(driver.state(paused)).isEqualTo(SandboxState.STOPPED);

        // Frozen processes cannot die until thawed; destroy must still leave nothing.
        String pausedThenDestroyed = RuncTestHost.newVmId();
        driver.create(host.spec(pausedThenDestroyed));
        host.ok(pausedThenDestroyed, "sleep 1000 >/dev/null 2>&1 &");
        driver.suspend(pausedThenDestroyed);
        driver.destroy(pausedThenDestroyed);
        assertThat(host.leftovers(pausedThenDestroyed)).isEmpty();

        // A VM whose init does not react to TERM (here: stopped from the host, so TERM stays pending) is
        // killed once the grace period is over.
        String stubborn = RuncTestHost.newVmId();
        driver.create(host.spec(stubborn));
        String initPid = Files.readString(host.vmDir(stubborn).resolve("init.pid")).strip();
        HostCommand.of("kill", "-STOP", initPid).check();
        driver.stop(stubborn, Duration.ofMillis(300));
        assertThat(driver.state(stubborn)).isEqualTo(SandboxState.STOPPED);
        assertThat(host.leftovers(stubborn)).noneMatch(s -> s.startsWith("runc container") || s.startsWith("cgroup"));
    }

    @Test
    void startRemountsTheRootAfterAHostReboot() {
        String vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
        host.ok(vm, "echo survived > /root/state.txt");
        driver.stop(vm, Duration.ofSeconds(5));
        // A reboot loses every mount (the overlay root, or the btrfs loop image); the disk stays.
        host.unmountAll();
        assertThat(host.leftovers(vm)).noneMatch(s -> s.startsWith("mount"));

        driver.start(vm);
        assertThat(host.ok(vm, "cat /root/state.txt")).isEqualTo("survived\n");
    }

    @Test
    void listReportsEverythingOfAVmLabelledWithItsId() {
        String vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
        List<HostResource> mine = driver.list().stream().filter(r -> r.vmId().equals(vm)).toList();
        // The root is an overlay mount or a btrfs subvolume, depending on the storage this host got.
        HostResource.Kind root = driver.storageName().equals("btrfs") ? HostResource.Kind.VOLUME : HostResource.Kind.MOUNT;
        assertThat(mine).extracting(HostResource::kind).contains(HostResource.Kind.CONTAINER,
                root, HostResource.Kind.CGROUP, HostResource.Kind.DIRECTORY);
        assertThat(mine).filteredOn(r -> r.kind() == HostResource.Kind.CONTAINER)
                .extracting(HostResource::name).containsExactly("burrow-" + vm);
        assertThat(mine).filteredOn(r -> r.kind() == root)
                .extracting(HostResource::name).containsExactly(host.rootfs(vm).toString());
        assertThat(mine).filteredOn(r -> r.kind() == HostResource.Kind.CGROUP)
                .extracting(HostResource::name).contains(host.cgroupDir("memory", vm).toString(),
                        host.cgroupDir("pids", vm).toString(), host.cgroupDir("freezer", vm).toString());

        driver.stop(vm, Duration.ofSeconds(5));
        // A stopped VM keeps its disk (mount and directory) but no container or cgroup.
        assertThat(driver.list()).filteredOn(r -> r.vmId().equals(vm)).extracting(HostResource::kind)
                .containsExactlyInAnyOrder(root, HostResource.Kind.DIRECTORY);
    }

    @Test
    void aFailedCreateLeavesNothingBehind() throws IOException {
        String vm = RuncTestHost.newVmId();
        SandboxSpec bad = new SandboxSpec(vm, RuncTestHost.IMAGE, 1, 256, 0, Map.of(), null, "not_a_hostname!");
        assertThatThrownBy(() -> driver.create(bad))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_HOSTNAME"));
        assertThat(host.leftovers(vm)).isEmpty();

        // runc itself fails this one, after the disk and bundle were made: the image has no /bin/sh.
        Path empty = Files.createDirectories(host.dataDir.resolve("empty-image"));
        UnpackedImage shellLess = new UnpackedImage("test:empty", "sha256:" + "0".repeat(64), empty, Map.of(), "/",
                List.of(), "0");
        ImageStore store = new ImageStore() {
            @Override
            public UnpackedImage prepare(String ref, ProgressListener progress) {
                return shellLess;
            }

            @Override
            public UnpackedImage find(String ref) {
                return shellLess;
            }
        };
        try (RuncDriver other = new RuncDriver(host.config, store)) {
            assertThatThrownBy(() -> other.create(new SandboxSpec(vm, "test:empty", 1, 256, 0, Map.of(), null, null)))
                    .isInstanceOf(DriverException.class).hasMessageContaining("/bin/sh");
        }
        assertThat(host.leftovers(vm)).isEmpty();
        assertThat(empty).isEmptyDirectory();

        assertThatThrownBy(() -> driver.create(new SandboxSpec(vm, RuncTestHost.IMAGE, 0, 256, 0, Map.of(), null, null)))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_RESOURCES"));
        assertThatThrownBy(() -> driver.create(new SandboxSpec("../etc", RuncTestHost.IMAGE, 1, 256, 0, Map.of(), null, null)))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_VM_ID"));
    }

    /** Host pids in the VM's cgroup whose command line contains {@code cmdline} (NUL-separated args). */
    private List<Long> processesInVm(String vm, String cmdline) throws IOException {
        List<Long> found = new ArrayList<>();
        for (String pid : host.cgroupFile("pids", vm, "cgroup.procs").split("\n")) {
            if (pid.isBlank()) continue;
            try {
                String cmd = Files.readString(Path.of("/proc", pid.strip(), "cmdline"), StandardCharsets.ISO_8859_1);
                if (cmd.contains(cmdline)) found.add(Long.parseLong(pid.strip()));
            } catch (IOException e) {
                // exited meanwhile
            }
        }
        return found;
    }
}
