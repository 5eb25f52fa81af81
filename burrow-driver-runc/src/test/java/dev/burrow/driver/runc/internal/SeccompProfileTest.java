package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ImageFacet.ProgressListener;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.testing.RuncOneShot;

class SeccompProfileTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    /**
     * Not JUnit's @TempDir: image trees are full of absolute symlinks (/bin/busybox) that it warns about one by
     * one, and deleting them is the store's own job anyway.
     */
    Path tmp;

    @BeforeEach
    void createTmp() throws IOException {
        tmp = Files.createTempDirectory("burrow-image-test-");
    }

    @AfterEach
    void deleteTmp() {
        ImageFiles.deleteTree(tmp);
    }

    // ---- the profile's shape ------------------------------------------------------------------------------

    @Test
    void isAnAllowlistDenyingWithEperm() {
        Map<String, Object> p = SeccompProfile.defaultProfile();
        assertThat(p).containsEntry("defaultAction", "SCMP_ACT_ERRNO").containsEntry("defaultErrnoRet", 1);
        assertThat((List<?>) p.get("architectures")).isNotEmpty();
        assertThat(allowedUnconditionally(p)).contains("read", "write", "openat", "execve", "futex", "wait4",
                "rt_sigaction", "epoll_wait", "connect", "chroot", "ptrace");
    }

    /**
     * ioctl is allowed by argument-filtered rules only (an unconditional ALLOW would override any filtered
     * rule in libseccomp); evaluated here as the kernel would: a request is allowed iff some rule matches.
     */
    @Test
    void ioctlIsAllowedForEveryRequestButTheBtrfsSubvolumeCreatingOnes() {
        Map<String, Object> p = SeccompProfile.defaultProfile();
        assertThat(allowedUnconditionally(p)).doesNotContain("ioctl");
        List<Map<String, Object>> ioctl = rules(p).stream().filter(r -> names(r).contains("ioctl")).toList();
        assertThat(ioctl).isNotEmpty().allSatisfy(r -> {
            assertThat(names(r)).containsExactly("ioctl");
            assertThat(r).containsEntry("action", "SCMP_ACT_ALLOW");
        });
        assertThat(SeccompProfile.DENIED_IOCTLS).containsExactlyInAnyOrderEntriesOf(Map.of(
                "BTRFS_IOC_SNAP_CREATE", 0x50009401L, "BTRFS_IOC_SUBVOL_CREATE", 0x5000940eL,
                "BTRFS_IOC_SNAP_CREATE_V2", 0x50009417L, "BTRFS_IOC_SUBVOL_CREATE_V2", 0x50009418L));

        for (long denied : SeccompProfile.DENIED_IOCTLS.values()) {
            assertThat(ioctlAllowed(ioctl, denied)).as("0x%x", denied).isFalse();
            // The kernel truncates the request to 32 bits, so the upper bits must not let it through.
            assertThat(ioctlAllowed(ioctl, 0xffffffff00000000L | denied)).isFalse();
            assertThat(ioctlAllowed(ioctl, 0x0000000100000000L | denied)).isFalse();
            assertThat(ioctlAllowed(ioctl, denied - 1)).isEqualTo(!SeccompProfile.DENIED_IOCTLS.containsValue(denied - 1));
            assertThat(ioctlAllowed(ioctl, denied + 1)).isEqualTo(!SeccompProfile.DENIED_IOCTLS.containsValue(denied + 1));
        }
        // TCGETS, FIONREAD, TIOCGWINSZ, FS_IOC_GETFLAGS (also sign-extended, as musl passes it), BTRFS_IOC_SYNC,
        // BTRFS_IOC_SNAP_DESTROY, the extremes.
        for (long ok : new long[] {0x5401L, 0x541bL, 0x5413L, 0x80086601L, 0xffffffff80086601L, 0x9408L,
                0x5000940fL, 0L, 0xffffffffL, -1L}) {
            assertThat(ioctlAllowed(ioctl, ok)).as("0x%x", ok).isTrue();
        }
        // The blocks are disjoint: no request is matched by two rules (so rule order or precedence never matters).
        java.util.Random random = new java.util.Random(42);
        for (int i = 0; i < 20_000; i++) {
            long request = random.nextLong();
            long matches = ioctl.stream().filter(r -> matches(r, request)).count();
            assertThat(matches).isEqualTo(SeccompProfile.DENIED_IOCTLS.containsValue(request & 0xffffffffL) ? 0 : 1);
        }
    }

    private static boolean ioctlAllowed(List<Map<String, Object>> ioctlRules, long request) {
        return ioctlRules.stream().anyMatch(r -> matches(r, request));
    }

    @SuppressWarnings("unchecked")
    private static boolean matches(Map<String, Object> rule, long request) {
        List<Map<String, Object>> args = (List<Map<String, Object>>) rule.get("args");
        assertThat(args).hasSize(1);
        Map<String, Object> arg = args.getFirst();
        assertThat(arg).containsEntry("index", 1).containsEntry("op", "SCMP_CMP_MASKED_EQ");
        long mask = ((Number) arg.get("value")).longValue();
        long value = ((Number) arg.get("valueTwo")).longValue();
        assertThat(mask >>> 32).as("mask must ignore the upper 32 bits").isZero();
        return (request & mask) == value;
    }

    @Test
    void escapeHatchesStayClosed() {
        Set<String> named = new HashSet<>();
        for (Map<String, Object> rule : rules(SeccompProfile.defaultProfile())) {
            if (rule.get("action").equals("SCMP_ACT_ALLOW")) named.addAll(names(rule));
        }
        assertThat(named).doesNotContainAnyElementsOf(List.of("mount", "umount", "umount2", "fsopen", "fsmount",
                "move_mount", "open_tree", "mount_setattr", "pivot_root", "unshare", "setns", "bpf", "keyctl",
                "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module", "finit_module",
                "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl", "perf_event_open", "syslog",
                "settimeofday", "clock_settime", "open_by_handle_at", "kcmp", "pidfd_getfd", "process_madvise",
                "userfaultfd", "io_uring_setup", "io_uring_enter", "clone3", "sethostname", "iopl", "ioperm"));
    }

    @Test
    void cloneIsAllowedOnlyWithoutNamespaceFlagsAndClone3FallsBack() {
        List<Map<String, Object>> rules = rules(SeccompProfile.defaultProfile());
        Map<String, Object> clone = rules.stream().filter(r -> names(r).contains("clone")).findFirst().orElseThrow();
        assertThat(names(clone)).containsExactly("clone");
        @SuppressWarnings("unchecked")
        Map<String, Object> arg = ((List<Map<String, Object>>) clone.get("args")).getFirst();
        long mask = ((Number) arg.get("value")).longValue();
        assertThat(arg).containsEntry("index", 0).containsEntry("op", "SCMP_CMP_MASKED_EQ");
        assertThat(((Number) arg.get("valueTwo")).longValue()).isZero();
        // CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
        assertThat(mask).isEqualTo(0x00020000L | 0x02000000L | 0x04000000L | 0x08000000L | 0x10000000L
                | 0x20000000L | 0x40000000L);

        Map<String, Object> clone3 = rules.stream().filter(r -> names(r).contains("clone3")).findFirst().orElseThrow();
        assertThat(clone3).containsEntry("action", "SCMP_ACT_ERRNO").containsEntry("errnoRet", 38);
    }

    @Test
    void eachCallReturnsAnIndependentCopy() {
        Map<String, Object> a = SeccompProfile.defaultProfile();
        a.put("defaultAction", "SCMP_ACT_ALLOW");
        assertThat(SeccompProfile.defaultProfile()).containsEntry("defaultAction", "SCMP_ACT_ERRNO");
    }

    // ---- the profile in a real container ------------------------------------------------------------------

    @Test
    void ordinaryCommandsRunAndEscapesFailInABusyboxContainer() {
        HostRequirements.requireRunc();
        UnpackedImage image = new OciImageStore(tmp.resolve("images")).prepare("builtin:busybox", ProgressListener.NONE);
        Map<String, Object> seccomp = SeccompProfile.defaultProfile();

        HostCommand.Result ok = run(image, seccomp, "sh", "-c", "echo ok; ls /; cat /proc/self/status; sleep 0.1");
        assertThat(ok.exitCode()).as(ok.describeFailure()).isZero();
        assertThat(ok.stdout()).startsWith("ok\n").contains("proc").contains("Seccomp:\t2").contains("NoNewPrivs:\t1");

        // Pipes, subshells and background jobs all go through clone without namespace flags.
        HostCommand.Result pipeline = run(image, seccomp, "sh", "-c", "(echo a; echo b) | wc -l & wait");
        assertThat(pipeline.stdout().strip()).as(pipeline.describeFailure()).isEqualTo("2");

        // An unprivileged user namespace needs no capability at all, so only seccomp stands in its way: the same
        // command succeeds in the same container without the profile (which proves this check is meaningful).
        HostCommand.Result userns = run(image, seccomp, "unshare", "-U", "true");
        assertThat(userns.exitCode()).isNotZero();
        assertThat(userns.stderr()).contains("Operation not permitted");
        HostCommand.Result usernsWithoutFilter = run(image, null, "unshare", "-U", "true");
        assertThat(usernsWithoutFilter.exitCode()).as(usernsWithoutFilter.describeFailure()).isZero();

        HostCommand.Result mount = run(image, seccomp, "mount", "-t", "tmpfs", "none", "/mnt");
        assertThat(mount.exitCode()).isNotZero();
        assertThat(mount.stderr()).containsIgnoringCase("permission denied"); // busybox's wording of EPERM

        HostCommand.Result mountNs = run(image, seccomp, "unshare", "-m", "true");
        assertThat(mountNs.exitCode()).isNotZero();

        // personality: PER_LINUX32 is one of the allowed values.
        HostCommand.Result linux32 = run(image, seccomp, "linux32", "uname", "-m");
        assertThat(linux32.exitCode()).as(linux32.describeFailure()).isZero();
        assertThat(linux32.stdout().strip()).isIn("i686", "i386");
    }

    /**
     * glibc's system() spawns with clone3 and falls back to clone only on ENOSYS; were clone3 denied with the
     * default EPERM, system() would fail. Uses the shared debian image (built once per checkout).
     */
    @Test
    void glibcProgramsWorkInADebianContainer() {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("debootstrap");
        UnpackedImage debian = new OciImageStore(HostRequirements.testCache().resolve("images"))
                .prepare("builtin:debian", ProgressListener.NONE);
        Map<String, Object> seccomp = SeccompProfile.defaultProfile();

        HostCommand.Result bash = run(debian, seccomp, "/bin/bash", "-c",
                "echo ok; apt-get --version | head -1; mawk 'BEGIN { r = system(\"true\"); print \"system=\" r }'");
        assertThat(bash.exitCode()).as(bash.describeFailure()).isZero();
        assertThat(bash.stdout()).startsWith("ok\n").contains("apt ").contains("system=0");

        HostCommand.Result userns = run(debian, seccomp, "unshare", "--user", "true");
        assertThat(userns.exitCode()).isNotZero();
        assertThat(userns.stderr()).contains("Operation not permitted");
    }

    private HostCommand.Result run(UnpackedImage image, Map<String, Object> seccomp, String... args) {
        assertThat(Files.isDirectory(image.rootfs())).isTrue();
        return RuncOneShot.run(image.rootfs(), List.of(args), seccomp, TIMEOUT);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> rules(Map<String, Object> profile) {
        return (List<Map<String, Object>>) profile.get("syscalls");
    }

    @SuppressWarnings("unchecked")
    private static List<String> names(Map<String, Object> rule) {
        return (List<String>) rule.get("names");
    }

    private static Set<String> allowedUnconditionally(Map<String, Object> profile) {
        Set<String> allowed = new HashSet<>();
        for (Map<String, Object> rule : rules(profile)) {
            if (rule.get("action").equals("SCMP_ACT_ALLOW") && rule.get("args") == null) allowed.addAll(names(rule));
        }
        return allowed;
    }
}
