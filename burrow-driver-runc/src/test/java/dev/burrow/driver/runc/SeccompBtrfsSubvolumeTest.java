package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.internal.HostCommand;
import dev.burrow.driver.runc.internal.SeccompProfile;
import dev.burrow.driver.runc.testing.RuncOneShot;

/**
 * A VM on btrfs cannot create a subvolume or snapshot (which would escape its qgroup and its snapshots): the
 * seccomp profile refuses the four btrfs ioctls with EPERM, also when the request has bits set above 32 (the
 * kernel ignores them), while other ioctls still reach the kernel. The busybox image has no btrfs tool, so a
 * small static C program is compiled here (gcc and libc6-dev) and copied into the VM. The same program run on
 * the same root without the filter does create the subvolumes, which proves the test can fail.
 */
class SeccompBtrfsSubvolumeTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Prints one "NAME result" line per ioctl: "ok", "EPERM", "ENOTTY" or the strerror text. */
    private static final String HELPER = """
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/ioctl.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            #include <linux/btrfs.h>
            #include <linux/fs.h>

            static void report(const char *what, long r) {
                if (r == 0) printf("%s ok\\n", what);
                else printf("%s %s\\n", what, errno == EPERM ? "EPERM" : errno == ENOTTY ? "ENOTTY" : strerror(errno));
            }

            int main(int argc, char **argv) {
                if (argc != 2) { fprintf(stderr, "usage: %s DIR\\n", argv[0]); return 2; }
                int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
                int root = open("/", O_RDONLY | O_DIRECTORY);
                int null = open("/dev/null", O_RDWR);
                if (dir < 0 || root < 0 || null < 0) { perror("open"); return 2; }
                struct btrfs_ioctl_vol_args a;
                struct btrfs_ioctl_vol_args_v2 b;

                memset(&a, 0, sizeof a); strcpy(a.name, "subvol");
                report("SUBVOL_CREATE", ioctl(dir, BTRFS_IOC_SUBVOL_CREATE, &a));
                memset(&b, 0, sizeof b); strcpy(b.name, "subvol_v2");
                report("SUBVOL_CREATE_V2", ioctl(dir, BTRFS_IOC_SUBVOL_CREATE_V2, &b));
                memset(&a, 0, sizeof a); a.fd = root; strcpy(a.name, "snap");
                report("SNAP_CREATE", ioctl(dir, BTRFS_IOC_SNAP_CREATE, &a));
                memset(&b, 0, sizeof b); b.fd = root; strcpy(b.name, "snap_v2");
                report("SNAP_CREATE_V2", ioctl(dir, BTRFS_IOC_SNAP_CREATE_V2, &b));
                /* The kernel takes the request as an unsigned int: bits above 32 must not slip past the filter. */
                memset(&a, 0, sizeof a); strcpy(a.name, "subvol_high");
                report("SUBVOL_CREATE_HIGH",
                       syscall(SYS_ioctl, dir, 0xffffffff00000000UL | BTRFS_IOC_SUBVOL_CREATE, &a));

                /* Ordinary ioctls reach the kernel: also sign-extended, as musl passes them. */
                char termios[256];
                report("TCGETS", ioctl(null, TCGETS, termios));
                report("TCGETS_HIGH", syscall(SYS_ioctl, null, 0xffffffff00000000UL | TCGETS, termios));
                int flags = 0;
                report("GETFLAGS", syscall(SYS_ioctl, dir, (long) (int) FS_IOC_GETFLAGS, &flags));
                return 0;
            }
            """;

    private static final List<String> CREATED = List.of("subvol", "subvol_v2", "snap", "snap_v2", "subvol_high");

    private RuncTestHost host;
    private Path work;

    @BeforeEach
    void setUp() throws IOException {
        host = RuncTestHost.start(RuncDriverConfig.Storage.BTRFS);
        work = Files.createTempDirectory("burrow-seccomp-btrfs-");
    }

    @AfterEach
    void tearDown() {
        try {
            if (work != null) HostCommand.of("rm", "-rf", "--one-file-system", work.toString()).run();
        } finally {
            if (host != null) host.close();
        }
    }

    @Test
    void aVmCannotCreateSubvolumesOrSnapshotsButOtherIoctlsWork() throws IOException {
        byte[] helper = compileHelper();
        String vm = RuncTestHost.newVmId();
        host.driver.create(host.spec(vm));
        host.driver.writeFile(vm, "/bin/subvolcheck", helper, true);
        Path root = host.rootfs(vm);
        List<String> before = subvolumes();

        // In the VM, as the driver runs it (its profile, its btrfs root).
        host.ok(vm, "mkdir /root/target");
        String inVm = host.ok(vm, "/bin/subvolcheck /root/target");
        assertThat(inVm).isEqualTo("""
                SUBVOL_CREATE EPERM
                SUBVOL_CREATE_V2 EPERM
                SNAP_CREATE EPERM
                SNAP_CREATE_V2 EPERM
                SUBVOL_CREATE_HIGH EPERM
                TCGETS ENOTTY
                TCGETS_HIGH ENOTTY
                GETFLAGS ok
                """);
        assertThat(host.ok(vm, "ls -A /root/target")).isEmpty();
        assertThat(subvolumes()).isEqualTo(before);

        // Control: the same program on the same root, in a container without the filter, creates them all.
        Files.createDirectories(root.resolve("root/control"));
        try {
            HostCommand.Result unfiltered = runOnWritableRoot(root, null, "/bin/subvolcheck", "/root/control");
            assertThat(unfiltered.exitCode()).as(unfiltered.describeFailure()).isZero();
            assertThat(unfiltered.stdout()).isEqualTo("""
                    SUBVOL_CREATE ok
                    SUBVOL_CREATE_V2 ok
                    SNAP_CREATE ok
                    SNAP_CREATE_V2 ok
                    SUBVOL_CREATE_HIGH ok
                    TCGETS ENOTTY
                    TCGETS_HIGH ENOTTY
                    GETFLAGS ok
                    """);
            assertThat(subvolumes()).containsAll(CREATED.stream().map(n -> "vms/" + vm + "/root/control/" + n).toList());
        } finally {
            for (String name : CREATED) {
                Path p = root.resolve("root/control").resolve(name);
                if (Files.exists(p)) HostCommand.of("btrfs", "subvolume", "delete", p.toString()).check();
            }
        }

        // And with the profile in that same one-shot container: refused again (the profile, not the driver).
        HostCommand.Result filtered = runOnWritableRoot(root, SeccompProfile.defaultProfile(), "/bin/subvolcheck",
                "/root/control");
        assertThat(filtered.exitCode()).as(filtered.describeFailure()).isZero();
        assertThat(filtered.stdout()).isEqualTo(inVm);
        assertThat(subvolumes()).isEqualTo(before);
    }

    /** gcc -static the helper; fails under CI=true when gcc or the static libc (libc6-dev) is missing. */
    private byte[] compileHelper() throws IOException {
        HostRequirements.requireCommand("gcc");
        Path source = work.resolve("subvolcheck.c");
        Path binary = work.resolve("subvolcheck");
        Files.writeString(source, HELPER);
        HostCommand.Result cc = HostCommand.of("gcc", "-static", "-O2", "-o", binary.toString(), source.toString())
                .timeout(Duration.ofSeconds(120)).run();
        HostRequirements.require(cc.ok(), "gcc -static works (packages gcc and libc6-dev): " + cc.describeFailure());
        return Files.readAllBytes(binary);
    }

    /** Subvolumes of the test's btrfs, as paths relative to its top. */
    private List<String> subvolumes() {
        String out = HostCommand.of("btrfs", "subvolume", "list", host.dataDir.resolve("btrfs").toString())
                .check().stdout();
        return out.lines().filter(l -> l.contains(" path ")).map(l -> l.substring(l.indexOf(" path ") + 6)).sorted()
                .toList();
    }

    /** A {@link RuncOneShot} container, but over a writable root (the VM's, a subvolume of the test's btrfs). */
    private HostCommand.Result runOnWritableRoot(Path rootfs, Map<String, Object> seccomp, String... args) {
        Map<String, Object> config = new LinkedHashMap<>(RuncOneShot.config(rootfs, List.of(args), seccomp));
        config.put("root", Map.of("path", rootfs.toString(), "readonly", false));
        Path dir = work.resolve("oneshot-" + UUID.randomUUID());
        Path bundle = dir.resolve("bundle");
        Path state = dir.resolve("state");
        String id = "burrow-test-" + UUID.randomUUID().toString().substring(0, 12);
        try {
            Files.createDirectories(bundle);
            Files.write(bundle.resolve("config.json"), JSON.writeValueAsBytes(config));
            return HostCommand.of("runc", "--root", state.toString(), "run", "--bundle", bundle.toString(), id)
                    .timeout(Duration.ofSeconds(60)).run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            HostCommand.of("runc", "--root", state.toString(), "delete", "-f", id).run();
        }
    }
}
