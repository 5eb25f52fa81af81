package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.driver.runc.RuncDriverConfig;

/**
 * Builds the OCI runtime {@code config.json} of a VM's runc bundle. Public and self-contained so that
 * {@code burrow bench} can run raw runc on a bundle identical to the one the driver uses.
 */
public final class RuncSpec {
    public static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /**
     * The VM's init: stays up forever, exits on TERM/INT (so stop is graceful) and, as pid 1, reaps every
     * orphan: {@code wait} without arguments blocks in waitpid(-1), which collects any child.
     */
    public static final List<String> INIT_ARGS = List.of(
            "/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done");

    /** Docker's default capability set: enough for package managers and servers, none of the SYS_* ones. */
    public static final List<String> CAPABILITIES = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
            "CAP_KILL", "CAP_AUDIT_WRITE");

    public static final long CPU_PERIOD_US = 100_000;
    static final long NOFILE_SOFT = 1024;
    static final long NOFILE_HARD = 524_288;
    private static final long HOST_NOFILE_HARD = hostNofileHardLimit();

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern HOSTNAME = Pattern.compile(
            "(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");

    private RuncSpec() { }

    /**
     * The complete runtime config for one VM.
     *
     * @param rootfs absolute path of the VM's mounted root filesystem
     * @param spec   what the VM asks for (resources, env, workdir, hostname)
     * @param image  the image the root was made from (its env and workdir are defaults)
     * @param config the driver settings (cgroup parent, node id, default pids limit)
     */
    public static ObjectNode build(Path rootfs, SandboxSpec spec, UnpackedImage image, RuncDriverConfig config) {
        return build(rootfs, spec, image, config, null);
    }

    /**
     * The runtime config for a VM on the node's VM network: the container joins the namespace {@code network}
     * prepared (instead of a fresh loopback-only one) and gets its resolv.conf, read-only, pointing at the node's
     * DNS forwarder.
     */
    public static ObjectNode build(Path rootfs, SandboxSpec spec, UnpackedImage image, RuncDriverConfig config,
                                   dev.burrow.driver.runc.net.NodeNetwork.Attachment network) {
        if (!rootfs.isAbsolute()) throw new IllegalArgumentException("rootfs must be absolute: " + rootfs);
        ObjectNode root = JSON.createObjectNode();
        root.put("ociVersion", "1.0.2");

        ObjectNode process = root.putObject("process");
        process.put("terminal", false);
        ObjectNode user = process.putObject("user");
        user.put("uid", 0);
        user.put("gid", 0);
        strings(process.putArray("args"), INIT_ARGS);
        strings(process.putArray("env"), environment(image.env(), spec.env()));
        process.put("cwd", workdir(spec.workdir(), image.workdir()));
        ObjectNode caps = process.putObject("capabilities");
        for (String set : List.of("bounding", "effective", "permitted")) strings(caps.putArray(set), CAPABILITIES);
        // Empty on purpose: inheritable/ambient capabilities would survive exec of non-root binaries.
        caps.putArray("inheritable");
        caps.putArray("ambient");
        ObjectNode nofile = process.putArray("rlimits").addObject();
        nofile.put("type", "RLIMIT_NOFILE");
        // select()-based programs break above 1024 open files; programs that need more raise the soft limit
        // up to the hard one. Raising a hard limit above the host's needs CAP_SYS_RESOURCE, which runc may
        // lack (it does in a nested sandbox), so the hard limit is clamped to what this process has.
        long hard = Math.min(NOFILE_HARD, HOST_NOFILE_HARD);
        nofile.put("soft", Math.min(NOFILE_SOFT, hard));
        nofile.put("hard", hard);
        process.put("noNewPrivileges", true);

        ObjectNode rootNode = root.putObject("root");
        rootNode.put("path", rootfs.toString());
        rootNode.put("readonly", false);
        root.put("hostname", hostname(spec));

        ArrayNode mounts = root.putArray("mounts");
        mount(mounts, "/proc", "proc", "proc");
        mount(mounts, "/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
        mount(mounts, "/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                "mode=0620", "gid=5");
        mount(mounts, "/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k");
        mount(mounts, "/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
        mount(mounts, "/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
        mount(mounts, "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro");
        if (network != null) {
            mount(mounts, "/etc/resolv.conf", "bind", network.resolvConf().toString(), "rbind", "ro", "nosuid", "nodev", "noexec");
        }
        // Burrow's helper programs (VmTools), read-only: a VM cannot change what later sessions run.
        mount(mounts, VmTools.MOUNT_POINT, "bind", config.dataDir().resolve("tools").toAbsolutePath().toString(),
                "bind", "ro", "nosuid", "nodev");

        ObjectNode annotations = root.putObject("annotations");
        annotations.put("dev.burrow.vm-id", spec.vmId());
        annotations.put("dev.burrow.node-id", config.nodeId());

        ObjectNode linux = root.putObject("linux");
        ObjectNode resources = linux.putObject("resources");
        // Deny every device; runc adds the standard harmless ones (null, zero, full, tty, [u]random, pts).
        ObjectNode denyAll = resources.putArray("devices").addObject();
        denyAll.put("allow", false);
        denyAll.put("access", "rwm");
        setResources(root, spec.vcpuCount(), spec.memSizeMb());
        int pids = spec.pidsLimit() > 0 ? spec.pidsLimit() : config.pidsLimit();
        resources.putObject("pids").put("limit", pids);
        linux.put("cgroupsPath", cgroupsPath(config, spec.vmId()));
        ArrayNode namespaces = linux.putArray("namespaces");
        for (String ns : List.of("pid", "network", "ipc", "uts", "mount", "cgroup")) {
            ObjectNode n = namespaces.addObject().put("type", ns);
            // Without VM networking a new network namespace has only loopback (runc brings it up).
            if (ns.equals("network") && network != null) n.put("path", network.netns().toString());
        }
        strings(linux.putArray("maskedPaths"), List.of(
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                // Docker masks it too: RAPL energy counters leak what other tenants compute (CVE-2020-8694).
                "/sys/devices/virtual/powercap"));
        strings(linux.putArray("readonlyPaths"), List.of(
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"));
        // The one place the seccomp profile enters a bundle (Docker's default allowlist, see SeccompProfile).
        linux.set("seccomp", JSON.valueToTree(SeccompProfile.defaultProfile()));
        return root;
    }

    /** Sets cpu quota and memory (+swap, so the VM cannot swap) limits in a config built by {@link #build}. */
    public static void setResources(ObjectNode config, int vcpuCount, int memSizeMb) {
        validateResources(vcpuCount, memSizeMb);
        ObjectNode resources = config.withObjectProperty("linux").withObjectProperty("resources");
        ObjectNode memory = resources.putObject("memory");
        memory.put("limit", memoryBytes(memSizeMb));
        memory.put("swap", memoryBytes(memSizeMb));
        ObjectNode cpu = resources.putObject("cpu");
        cpu.put("quota", cpuQuotaUs(vcpuCount));
        cpu.put("period", CPU_PERIOD_US);
    }

    public static void validateResources(int vcpuCount, int memSizeMb) {
        if (vcpuCount < 1 || vcpuCount > 1024) {
            throw BurrowException.of(ErrorCode.INVALID_RESOURCES, "vcpuCount must be between 1 and 1024, got " + vcpuCount);
        }
        // Below a few MiB even a shell gets OOM-killed while starting.
        if (memSizeMb < 8 || memSizeMb > 16 * 1024 * 1024) {
            throw BurrowException.of(ErrorCode.INVALID_RESOURCES,
                    "memSizeMb must be between 8 and 16777216, got " + memSizeMb);
        }
    }

    public static long cpuQuotaUs(int vcpuCount) {
        return vcpuCount * CPU_PERIOD_US;
    }

    public static long memoryBytes(int memSizeMb) {
        return memSizeMb * 1024L * 1024L;
    }

    /** The cgroup of a VM, relative to each hierarchy's root (absolute, so not nested under the server's). */
    public static String cgroupsPath(RuncDriverConfig config, String vmId) {
        return "/" + config.cgroupParent() + "/" + vmId;
    }

    /** Writes {@code config.json} into {@code bundleDir} atomically (runc exec re-reads it on every exec). */
    public static void writeBundle(Path bundleDir, ObjectNode config) {
        try {
            Files.createDirectories(bundleDir);
            AtomicJson.write(bundleDir.resolve("config.json"), config);
        } catch (IOException e) {
            throw new DriverException("cannot write runc bundle in " + bundleDir + ": " + e.getMessage(), e);
        }
    }

    public static ObjectNode readBundle(Path bundleDir) {
        Path file = bundleDir.resolve("config.json");
        try {
            return (ObjectNode) JSON.readTree(file.toFile());
        } catch (IOException | ClassCastException e) {
            throw new DriverException("cannot read runc bundle " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The process spec of an interactive exec ({@code runc exec --process}): the VM init's process section, so
     * capabilities, rlimits and no_new_privs are the same as for every other process of the VM, with this command,
     * user, environment and a terminal whose size is set before the command starts ({@code consoleSize}; with
     * {@code -t} alone runc resizes only after the command runs, and a program that asks for the size at once
     * would see 0x0).
     */
    public static ObjectNode execProcess(ObjectNode bundle, List<String> args, Map<String, String> env, String cwd,
                                         int uid, int gid, List<Integer> additionalGids, boolean terminal, int cols, int rows) {
        ObjectNode process = ((ObjectNode) bundle.get("process")).deepCopy();
        process.put("terminal", terminal);
        if (terminal) {
            ObjectNode size = process.putObject("consoleSize");
            size.put("height", rows);
            size.put("width", cols);
        } else {
            process.remove("consoleSize");
        }
        strings(process.putArray("args"), args);
        Map<String, String> merged = new LinkedHashMap<>();
        for (var e : process.withArray("env")) {
            String kv = e.asText();
            int eq = kv.indexOf('=');
            if (eq > 0) merged.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        merged.putAll(env);
        ArrayNode envArray = process.putArray("env");
        merged.forEach((k, v) -> envArray.add(k + "=" + v));
        if (cwd != null) process.put("cwd", cwd);
        ObjectNode user = process.putObject("user");
        user.put("uid", uid);
        user.put("gid", gid);
        if (!additionalGids.isEmpty()) {
            ArrayNode gids = user.putArray("additionalGids");
            additionalGids.forEach(gids::add);
        }
        return process;
    }

    /** Writes an exec's process spec (see {@link #execProcess}) for {@code runc exec --process}. */
    public static void writeProcess(Path file, ObjectNode process) {
        try {
            AtomicJson.write(file, process);
        } catch (IOException e) {
            throw new DriverException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** PATH default, then the image's variables, then the VM's own (later ones win). */
    static List<String> environment(Map<String, String> imageEnv, Map<String, String> specEnv) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", DEFAULT_PATH);
        env.put("HOME", "/root");
        env.putAll(imageEnv);
        specEnv.forEach((k, v) -> {
            validateEnv(k, v);
            env.put(k, v);
        });
        return env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
    }

    public static void validateEnv(String key, String value) {
        if (key == null || key.isEmpty() || key.indexOf('=') >= 0 || key.indexOf('\0') >= 0
                || value == null || value.indexOf('\0') >= 0) {
            throw BurrowException.of(ErrorCode.INVALID_ENV, "invalid environment variable: " + key);
        }
    }

    static String workdir(String specWorkdir, String imageWorkdir) {
        if (specWorkdir != null && !specWorkdir.isBlank()) {
            validateWorkdir(specWorkdir);
            return specWorkdir;
        }
        if (imageWorkdir != null && !imageWorkdir.isBlank()) {
            return imageWorkdir.startsWith("/") ? imageWorkdir : "/" + imageWorkdir;
        }
        return "/";
    }

    public static void validateWorkdir(String workdir) {
        String problem = GuestPath.problem(workdir);
        if (problem != null) {
            String shown = workdir.length() > 80 ? workdir.substring(0, 80) + "…" : workdir;
            throw new BurrowException(ErrorCode.INVALID_WORKDIR, "workdir " + problem + ": " + shown);
        }
    }

    private static String hostname(SandboxSpec spec) {
        String h = spec.hostname();
        if (h == null || h.isBlank()) return spec.vmId();
        if (!HOSTNAME.matcher(h).matches()) {
            throw BurrowException.of(ErrorCode.INVALID_HOSTNAME, "not a valid hostname: " + h);
        }
        return h;
    }

    /** The hard RLIMIT_NOFILE of this JVM (inherited by runc), from /proc/self/limits. */
    private static long hostNofileHardLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (!line.startsWith("Max open files")) continue;
                String[] f = line.substring("Max open files".length()).trim().split("\\s+");
                return f[1].equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(f[1]);
            }
        } catch (IOException | RuntimeException e) {
            // not Linux or an unexpected format: assume the usual limit and let runc report a problem
        }
        return NOFILE_HARD;
    }

    /**
     * Adds the read-only bind mount of the VM's sd_notify directory ({@link dev.burrow.core.driver.ServiceNotify}) to
     * a bundle that lacks it; true when the bundle changed. Sockets in it can still be sent to: a read-only mount
     * forbids writing files, not connecting to sockets.
     */
    public static boolean ensureNotifyMount(ObjectNode bundle, Path source) {
        String dest = dev.burrow.core.driver.ServiceNotify.MOUNT_POINT;
        for (var m : bundle.path("mounts")) if (dest.equals(m.path("destination").asText())) return false;
        mount(bundle.withArray("mounts"), dest, "bind", source.toAbsolutePath().toString(), "bind", "ro", "nosuid", "nodev",
                "noexec");
        return true;
    }

    private static void mount(ArrayNode mounts, String destination, String type, String source, String... options) {
        ObjectNode m = mounts.addObject();
        m.put("destination", destination);
        m.put("type", type);
        m.put("source", source);
        if (options.length > 0) strings(m.putArray("options"), List.of(options));
    }

    private static void strings(ArrayNode array, List<String> values) {
        values.forEach(array::add);
    }
}
