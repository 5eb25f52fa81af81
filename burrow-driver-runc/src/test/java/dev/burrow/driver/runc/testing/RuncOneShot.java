package dev.burrow.driver.runc.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.driver.runc.internal.HostCommand;

/**
 * Runs one command to completion in a throwaway runc container over an image rootfs, for tests of what the
 * kernel lets a sandboxed process do. The container looks like a VM's (its own mount, pid, ipc, uts and network
 * namespaces with no interface but loopback, Docker's default capabilities, no-new-privileges), but the root is
 * mounted read-only because the rootfs is a shared image that must never be written. runc's state directory and
 * the bundle are temp dirs removed afterwards, together with the container.
 */
public final class RuncOneShot {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Docker's default capability set: what a VM keeps after dropping the rest. */
    public static final List<String> DEFAULT_CAPS = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID",
            "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE");

    private RuncOneShot() { }

    /** Runs {@code args} in a fresh container over {@code rootfs}; {@code seccomp} null means no filter. */
    public static HostCommand.Result run(Path rootfs, List<String> args, Map<String, Object> seccomp,
                                         Duration timeout) {
        Path work;
        try {
            work = Files.createTempDirectory("burrow-oneshot-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path bundle = work.resolve("bundle");
        Path state = work.resolve("state");
        String id = "burrow-test-" + UUID.randomUUID().toString().substring(0, 12);
        try {
            Files.createDirectories(bundle);
            Files.write(bundle.resolve("config.json"), JSON.writeValueAsBytes(config(rootfs, args, seccomp)));
            return HostCommand.of("runc", "--root", state.toString(), "run", "--bundle", bundle.toString(), id)
                    .timeout(timeout).run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            // `runc run` removes a container that exited; this covers a timeout or a failed start.
            HostCommand.of("runc", "--root", state.toString(), "delete", "-f", id).run();
            HostCommand.of("rm", "-rf", "--one-file-system", work.toString()).run();
        }
    }

    /** A minimal OCI runtime config (spec 1.0.2) for {@link #run}. */
    public static Map<String, Object> config(Path rootfs, List<String> args, Map<String, Object> seccomp) {
        Map<String, Object> caps = new LinkedHashMap<>();
        for (String set : List.of("bounding", "effective", "permitted")) caps.put(set, DEFAULT_CAPS);

        Map<String, Object> process = new LinkedHashMap<>();
        process.put("terminal", false);
        process.put("user", Map.of("uid", 0, "gid", 0));
        process.put("args", args);
        process.put("env", List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        process.put("cwd", "/");
        process.put("capabilities", caps);
        process.put("rlimits", List.of(Map.of("type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024)));
        process.put("noNewPrivileges", true);

        List<Map<String, Object>> mounts = List.of(
                mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")),
                mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")),
                mount("/dev/pts", "devpts", "devpts",
                        List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")),
                mount("/dev/shm", "tmpfs", "shm", List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
                mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")),
                mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro")),
                mount("/tmp", "tmpfs", "tmpfs", List.of("nosuid", "nodev", "mode=1777", "size=65536k")));

        Map<String, Object> linux = new LinkedHashMap<>();
        linux.put("namespaces", List.of(Map.of("type", "pid"), Map.of("type", "network"), Map.of("type", "ipc"),
                Map.of("type", "uts"), Map.of("type", "mount")));
        linux.put("resources", Map.of("devices", List.of(Map.of("allow", false, "access", "rwm"))));
        linux.put("maskedPaths", List.of("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                "/sys/firmware", "/proc/scsi"));
        linux.put("readonlyPaths", List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"));
        if (seccomp != null) linux.put("seccomp", seccomp);

        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ociVersion", "1.0.2");
        config.put("process", process);
        config.put("root", Map.of("path", rootfs.toAbsolutePath().toString(), "readonly", true));
        config.put("hostname", "burrow-test");
        config.put("mounts", mounts);
        config.put("linux", linux);
        return config;
    }

    private static Map<String, Object> mount(String destination, String type, String source, List<String> options) {
        return Map.of("destination", destination, "type", type, "source", source, "options", options);
    }
}
