package dev.burrow.driver.runc;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.DiskQuotaFacet;
import dev.burrow.core.driver.FileFacet;
import dev.burrow.core.driver.ImageFacet;
import dev.burrow.core.driver.NetworkFacet;
import dev.burrow.core.driver.ProcessFacet;
import dev.burrow.core.driver.ResourceFacet;
import dev.burrow.core.driver.ServiceNotify;
import dev.burrow.core.driver.SnapshotFacet;
import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.driver.CachedImage;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxNetns;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.ShellCommand;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.fault.Failpoints;
import dev.burrow.driver.runc.internal.BtrfsStorage;
import dev.burrow.driver.runc.internal.CgroupDirs;
import dev.burrow.driver.runc.internal.ContainerExec;
import dev.burrow.driver.runc.internal.ImageRef;
import dev.burrow.driver.runc.internal.ImageStore;
import dev.burrow.driver.runc.internal.NetnsConnector;
import dev.burrow.driver.runc.internal.OpenTransfers;
import dev.burrow.driver.runc.internal.OverlayStorage;
import dev.burrow.driver.runc.internal.PasswdEntry;
import dev.burrow.driver.runc.internal.RootfsStorage;
import dev.burrow.driver.runc.internal.RuncCli;
import dev.burrow.driver.runc.internal.RuncCli.ContainerState;
import dev.burrow.driver.runc.internal.RuncProcess;
import dev.burrow.driver.runc.internal.RuncSpec;
import dev.burrow.driver.runc.internal.SafeDelete;
import dev.burrow.driver.runc.internal.SandboxFiles;
import dev.burrow.driver.runc.internal.TreeCopy;
import dev.burrow.driver.runc.internal.UnpackedImage;
import dev.burrow.driver.runc.net.NodeNetwork;
import dev.burrow.driver.runc.internal.VmTools;

/**
 * One runc container per VM. Host layout per VM, under {@code <dataDir>/vms/<vmId>/}: the storage's entries
 * (overlay: upper, work and the mounted {@code rootfs}; btrfs: {@code btrfs.json}, the root itself being the
 * subvolume {@code <dataDir>/btrfs/vms/<vmId>}; see {@link RootfsStorage}), {@code bundle/config.json},
 * {@code console.log} (the init's stdio), {@code init.pid} and {@code exec/} (pid files of running execs).
 * Snapshots live beside: {@code <dataDir>/snapshots/} (overlay) or {@code <dataDir>/btrfs/snapshots/}. The container is
 * {@code burrow-<vmId>} in the runc state dir {@link RuncDriverConfig#runcRoot()}; its cgroup is
 * {@code <cgroupParent>/<vmId>} in every hierarchy.
 *
 * <p>Operations on one VM are serialized by a lock (the coordinator serializes transitions, but file
 * operations and execs arrive concurrently with them and briefly freeze the VM).
 */
public final class RuncDriver implements SandboxDriver, ImageFacet, ProcessFacet, FileFacet, SnapshotFacet, NetworkFacet,
        ResourceFacet, DiskQuotaFacet {
    private static final Logger log = LoggerFactory.getLogger(RuncDriver.class);
    private static final Pattern VM_ID = Pattern.compile("[a-z0-9]{1,63}");
    private static final Pattern SNAPSHOT_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,127}");
    /** Records which storage a data dir's VMs are on, so a restart never looks for them on the other one. */
    private static final String STORAGE_MARKER = "rootfs-storage";
    private static final String CONTAINER_PREFIX = "burrow-";
    private static final Duration POLL = Duration.ofMillis(20);
    private static final Duration KILL_WAIT = Duration.ofSeconds(5);

    private final RuncDriverConfig config;
    private final ImageStore images;
    private final Path vmsDir;
    private final RootfsStorage storage;
    private final RuncCli runc;
    private final CgroupDirs cgroups;
    /** Files held open by streamed reads and writes, closed when their VM is destroyed. */
    private final OpenTransfers transfers = new OpenTransfers();
    /** The node's VM network, or null when VMs get a loopback-only namespace. */
    private final NodeNetwork network;
    private final VmTools tools;
    private final ReentrantLock[] locks = new ReentrantLock[64];
    /** Per VM: its accounts files as last read for a spawn (see {@link #accounts}); dropped on destroy. */
    private final java.util.Map<String, Accounts> accountsCache = new java.util.concurrent.ConcurrentHashMap<>();
    /** Per snapshot id; always taken after the VM lock when both are needed. */
    private final ReentrantLock[] snapshotLocks = new ReentrantLock[64];

    /** The host end of sd_notify for services (see {@link dev.burrow.core.driver.ServiceNotify}). */
    private final dev.burrow.driver.runc.internal.NotifyHub notify;

    public RuncDriver(RuncDriverConfig config, ImageStore images) {
        this.config = config;
        this.images = images;
        try {
            Path dir = config.dataDir().resolve("vms");
            Files.createDirectories(dir);
            // Canonical, because it is compared with mount points from /proc/self/mountinfo.
            this.vmsDir = dir.toRealPath();
        } catch (IOException e) {
            throw new DriverException("cannot create data directory " + config.dataDir() + ": " + e.getMessage(), e);
        }
        this.storage = openStorage(config, vmsDir);
        this.runc = new RuncCli(config.runcRoot().toAbsolutePath());
        this.cgroups = new CgroupDirs(config.cgroupParent());
        try {
            this.network = config.network() == null ? null
                    : NodeNetwork.open(config.network(), config.nodeId(), config.dataDir().resolve("network"));
        } catch (RuntimeException e) {
            storage.close();
            throw e;
        }
        this.tools = VmTools.prepare(config.dataDir().resolve("tools"));
        this.notify = new dev.burrow.driver.runc.internal.NotifyHub(id -> vmDir(id).resolve("notify"));
        for (int i = 0; i < locks.length; i++) locks[i] = new ReentrantLock();
        for (int i = 0; i < snapshotLocks.length; i++) snapshotLocks[i] = new ReentrantLock();
        log.atInfo().addKeyValue("storage", storage.name()).addKeyValue("data_dir", config.dataDir()).log("runc driver ready");
    }

    /**
     * The storage for this data dir. A data dir that has VMs keeps the storage they are on (recorded in
     * {@code rootfs-storage}; a data dir from before the setting with overlay VMs is overlay). Otherwise
     * {@code auto} takes btrfs if it can be set up (data dir on btrfs, or a loop image: needs btrfs-progs, the
     * btrfs module and loop devices) and falls back to overlayfs.
     */
    private static RootfsStorage openStorage(RuncDriverConfig config, Path vmsDir) {
        Path marker = config.dataDir().resolve(STORAGE_MARKER);
        RuncDriverConfig.Storage recorded = null;
        boolean vmsExist;
        try {
            if (Files.isRegularFile(marker)) {
                recorded = RuncDriverConfig.Storage.valueOf(Files.readString(marker).strip().toUpperCase(java.util.Locale.ROOT));
            }
            try (DirectoryStream<Path> dirs = Files.newDirectoryStream(vmsDir, p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
                vmsExist = dirs.iterator().hasNext();
            }
            if (recorded == null && vmsExist) recorded = RuncDriverConfig.Storage.OVERLAY;
        } catch (IOException | IllegalArgumentException e) {
            throw new DriverException("cannot read " + marker + ": " + e.getMessage(), e);
        }
        RuncDriverConfig.Storage wanted = config.storage();
        if (vmsExist && recorded != null) {
            if (wanted != RuncDriverConfig.Storage.AUTO && wanted != recorded) {
                throw new DriverException("data dir " + config.dataDir() + " has VMs on " + recorded.name().toLowerCase(java.util.Locale.ROOT)
                        + " storage; cannot switch it to " + wanted.name().toLowerCase(java.util.Locale.ROOT) + " while they exist");
            }
            wanted = recorded;
        }
        RootfsStorage chosen = switch (wanted) {
            case OVERLAY -> new OverlayStorage(vmsDir);
            case BTRFS -> BtrfsStorage.open(vmsDir, config.dataDir(), config.btrfsImageSizeMb());
            case AUTO -> {
                try {
                    yield BtrfsStorage.open(vmsDir, config.dataDir(), config.btrfsImageSizeMb());
                } catch (RuntimeException e) {
                    log.atWarn().addKeyValue("data_dir", config.dataDir())
                            .log("btrfs storage unavailable, using overlayfs (no disk quotas, snapshots copy): " + e.getMessage());
                    yield new OverlayStorage(vmsDir);
                }
            }
        };
        try {
            Path tmp = marker.resolveSibling(STORAGE_MARKER + ".tmp");
            Files.writeString(tmp, chosen.name() + "\n");
            Files.move(tmp, marker, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            chosen.close();
            throw new DriverException("cannot write " + marker + ": " + e.getMessage(), e);
        }
        return chosen;
    }

    @Override
    public String name() {
        return "runc";
    }

    // Facets: this driver is its own facets. Suspend is the cgroup freezer, which keeps memory. Disk snapshots with
    // either storage (btrfs: O(1); overlay: a copy of what the VM wrote); no memory snapshots (CRIU fails on this
    // kernel); only btrfs has quotas; a VM network only when configured.

    @Override
    public Optional<ImageFacet> images() {
        return Optional.of(this);
    }

    @Override
    public Optional<ProcessFacet> processes() {
        return Optional.of(this);
    }

    @Override
    public Optional<FileFacet> files() {
        return Optional.of(this);
    }

    @Override
    public Optional<SnapshotFacet> snapshots() {
        return Optional.of(this);
    }

    @Override
    public Optional<NetworkFacet> network() {
        return network == null ? Optional.empty() : Optional.of(this);
    }

    @Override
    public Optional<ServiceNotify> serviceNotify() {
        return Optional.of(notify);
    }

    @Override
    public Optional<ResourceFacet> resources() {
        return Optional.of(this);
    }

    @Override
    public Optional<DiskQuotaFacet> diskQuota() {
        return storage.supportsQuota() ? Optional.of(this) : Optional.empty();
    }

    /** "btrfs" or "overlay": where VM roots live on this host. */
    public String storageName() {
        return storage.name();
    }

    /** The root filesystem path of a VM (for tests and diagnostics; the VM must have a disk here). */
    Path rootfs(String vmId) {
        checkId(vmId);
        return locked(vmId, () -> storage.ensureMounted(vmId));
    }

    @Override
    public ImageInfo prepareImage(String imageRef, ProgressListener progress) {
        UnpackedImage image = images.prepare(imageRef, progress == null ? ProgressListener.NONE : progress);
        return new ImageInfo(image.ref(), image.digest(), image.env(), image.workdir(), image.cmd());
    }

    @Override
    public void validateImageRef(String imageRef) {
        images.validate(imageRef);
    }

    @Override
    public boolean imageCached(String imageRef) {
        return images.find(imageRef) != null;
    }

    @Override
    public List<CachedImage> cachedImages() {
        Map<String, RootfsStorage.ImageUsers> users = storage.imageUsers();
        boolean needed = storage.rootsNeedImage();
        List<CachedImage> result = new ArrayList<>();
        for (ImageStore.Cached c : images.cached()) {
            var u = users.getOrDefault(c.digest(), new RootfsStorage.ImageUsers(0, 0));
            result.add(new CachedImage(c.digest(), c.refs(), c.sizeBytes(), c.lastUsedAt(), u.vms(), u.snapshots(),
                    needed && (u.vms() > 0 || u.snapshots() > 0)));
        }
        return result;
    }

    /**
     * Removes a cached image: the unpacked tree (and its references) and the storage's copy of it. With overlay,
     * refused while a VM root or snapshot is stacked on it; btrfs roots and snapshots do not depend on it.
     */
    @Override
    public void deleteImage(String digest) {
        if (storage.rootsNeedImage()) {
            var u = storage.imageUsers().get(digest);
            if (u != null && (u.vms() > 0 || u.snapshots() > 0)) {
                throw BurrowException.of(ErrorCode.IMAGE_IN_USE, "image " + digest + " is the lower layer of " + u.vms()
                        + " VM(s) and " + u.snapshots() + " snapshot(s) on this host (" + storage.name()
                        + " storage); delete them first");
            }
        }
        images.delete(digest);
        storage.releaseImage(digest);
    }

    @Override
    public String create(SandboxSpec spec) {
        String vmId = checkId(spec.vmId());
        RuncSpec.validateResources(spec.vcpuCount(), spec.memSizeMb());
        if (spec.snapshotId() != null) checkSnapshotId(spec.snapshotId());
        else if (spec.imageRef() == null || spec.imageRef().isBlank()) {
            throw BurrowException.of(ErrorCode.INVALID_IMAGE, "VM " + vmId + " has no image reference");
        }
        if (spec.rootfsSizeMb() != null) {
            if (spec.rootfsSizeMb() <= 0) {
                throw BurrowException.of(ErrorCode.INVALID_ROOTFS_SIZE, "rootfsSizeMb must be positive: " + spec.rootfsSizeMb());
            }
            if (!storage.supportsQuota()) {
                throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD,
                        "rootfsSizeMb needs the btrfs storage; this host uses " + storage.name() + ", which has no disk quota");
            }
        }
        return locked(vmId, () -> {
            long t0 = System.nanoTime();
            Optional<ContainerState> current = runc.state(containerId(vmId));
            if (current.isPresent() && current.get().alive()) return containerId(vmId);
            boolean fresh = !Files.exists(vmDir(vmId), LinkOption.NOFOLLOW_LINKS);
            try {
                UnpackedImage image;
                Path root;
                if (spec.snapshotId() != null) {
                    String sid = spec.snapshotId();
                    image = imageOfSnapshot(sid, spec.imageRef());
                    // Under the snapshot's lock: it cannot be deleted between the check and the copy.
                    root = lockedSnapshot(sid, () -> storage.prepareFromSnapshot(vmId, sid, spec.rootfsSizeMb()));
                } else {
                    image = resolveImage(spec.imageRef());
                    root = storage.prepare(vmId, image, spec.rootfsSizeMb());
                }
                NodeNetwork.Attachment net = network == null ? null : network.attach(vmId, spec.network());
                RuncSpec.writeBundle(bundleDir(vmId), RuncSpec.build(root, spec, image, config, net));
                Failpoints.hit("driver.create.after-rootfs");
                runContainer(vmId, root);
            } catch (RuntimeException e) {
                // Leave nothing half-made behind; an existing (stopped) VM keeps its disk.
                if (fresh) destroyAfterFailure(vmId, e);
                throw e;
            }
            log.atInfo().addKeyValue("vm_id", vmId).addKeyValue("op", "create")
                    .addKeyValue("duration_ms", ms(t0)).log("VM created");
            return containerId(vmId);
        });
    }

    /**
     * Freezes a running VM (a suspended one already is; a stopped one has no processes) for the moment the
     * storage copies its disk, so the snapshot is consistent: btrfs takes an O(1) read-only snapshot, overlay
     * copies the upper directory.
     */
    @Override
    public void snapshot(String vmId, String snapshotId) {
        checkId(vmId);
        checkSnapshotId(snapshotId);
        long t0 = System.nanoTime();
        boolean made = withRootHeld(vmId, root -> lockedSnapshot(snapshotId, () -> {
            if (storage.findSnapshot(snapshotId).isPresent()) return false;
            storage.snapshot(vmId, snapshotId);
            return true;
        }));
        if (made) {
            log.atInfo().addKeyValue("vm_id", vmId).addKeyValue("snapshot_id", snapshotId).addKeyValue("op", "snapshot")
                    .addKeyValue("storage", storage.name()).addKeyValue("duration_ms", ms(t0)).log("VM disk snapshotted");
        }
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        checkSnapshotId(snapshotId);
        lockedSnapshot(snapshotId, () -> {
            storage.deleteSnapshot(snapshotId);
            return null;
        });
    }

    @Override
    public void start(String vmId) {
        checkId(vmId);
        locked(vmId, () -> {
            long t0 = System.nanoTime();
            Optional<ContainerState> current = runc.state(containerId(vmId));
            if (current.isPresent() && current.get().alive()) return null;
            if (!storage.exists(vmId) || !Files.exists(bundleDir(vmId).resolve("config.json"))) {
                throw vmNotFound(vmId);
            }
            // a reboot removes network namespaces; the bundle names the VM's, so it must exist again first
            if (network != null) network.ensure(vmId);
            runContainer(vmId, storage.ensureMounted(vmId));
            log.atInfo().addKeyValue("vm_id", vmId).addKeyValue("op", "start")
                    .addKeyValue("duration_ms", ms(t0)).log("VM started");
            return null;
        });
    }

    @Override
    public void stop(String vmId, Duration grace) {
        checkId(vmId);
        locked(vmId, () -> {
            long t0 = System.nanoTime();
            String cid = containerId(vmId);
            Optional<ContainerState> current = runc.state(cid);
            if (current.isPresent() && current.get().alive()) {
                // TERM cannot be handled by frozen processes; thaw so the init can exit cleanly.
                if (current.get().status().equals("paused")) runc.resume(cid);
                runc.kill(cid, "TERM", false);
                if (!awaitStopped(cid, grace == null ? Duration.ZERO : grace)) {
                    // --all makes runc freeze, signal every process and thaw, so nothing escapes by forking.
                    runc.kill(cid, "KILL", true);
                    awaitStopped(cid, KILL_WAIT);
                }
            }
            runc.delete(cid, true);
            cgroups.removeVm(vmId);
            log.atInfo().addKeyValue("vm_id", vmId).addKeyValue("op", "stop")
                    .addKeyValue("duration_ms", ms(t0)).log("VM stopped");
            return null;
        });
    }

    @Override
    public void suspend(String vmId) {
        checkId(vmId);
        locked(vmId, () -> {
            ContainerState s = runc.state(containerId(vmId)).orElseThrow(() -> notRunning(vmId));
            switch (s.status()) {
                case "paused" -> { }
                case "running" -> runc.pause(containerId(vmId));
                default -> throw notRunning(vmId);
            }
            return null;
        });
    }

    @Override
    public void resume(String vmId) {
        checkId(vmId);
        locked(vmId, () -> {
            ContainerState s = runc.state(containerId(vmId)).orElseThrow(() -> notRunning(vmId));
            switch (s.status()) {
                case "running" -> { }
                case "paused" -> runc.resume(containerId(vmId));
                default -> throw notRunning(vmId);
            }
            return null;
        });
    }

    @Override
    public void destroy(String vmId) {
        checkId(vmId);
        accountsCache.remove(vmId);
        locked(vmId, () -> {
            long t0 = System.nanoTime();
            String cid = containerId(vmId);
            if (runc.exists(cid)) {
                killAndDelete(cid);
                if (runc.exists(cid)) throw new DriverException("container " + cid + " survived delete");
            }
            Failpoints.hit("driver.destroy.after-container");
            // Teardown mirrors creation in reverse: processes, cgroups, mounts, then directories.
            cgroups.removeVm(vmId);
            if (network != null) network.detach(vmId);
            // an open descriptor would keep the root busy, and the transfer cannot finish anyway
            transfers.closeAll(vmId);
            storage.release(vmId);
            notify.forget(vmId);
            SafeDelete.deleteTree(vmDir(vmId));
            log.atInfo().addKeyValue("vm_id", vmId).addKeyValue("op", "destroy")
                    .addKeyValue("duration_ms", ms(t0)).log("VM destroyed");
            return null;
        });
    }

    @Override
    public SandboxState state(String vmId) {
        checkId(vmId);
        return locked(vmId, () -> {
            Optional<ContainerState> s = runc.state(containerId(vmId));
            if (s.isEmpty()) return Files.exists(vmDir(vmId), LinkOption.NOFOLLOW_LINKS) ? SandboxState.STOPPED : SandboxState.ABSENT;
            return switch (s.get().status()) {
                case "creating", "created", "running" -> SandboxState.RUNNING;
                case "paused" -> SandboxState.PAUSED;
                default -> SandboxState.STOPPED;
            };
        });
    }

    @Override
    public ExecResult exec(String vmId, ExecRequest request) {
        checkId(vmId);
        if (request.command() == null || request.command().indexOf('\0') >= 0) {
            throw BurrowException.of(ErrorCode.INVALID_COMMAND, "command is missing or contains a NUL byte");
        }
        request.env().forEach(RuncSpec::validateEnv);
        if (request.workdir() != null && !request.workdir().isBlank()) RuncSpec.validateWorkdir(request.workdir());
        String cid = containerId(vmId);
        Path pidFile = vmDir(vmId).resolve("exec").resolve(UUID.randomUUID() + ".pid");
        List<String> argv = new ArrayList<>(runc.execPrefix());
        // A file operation may freeze the VM for a moment after the state check below; with
        // --ignore-paused runc then waits for the thaw instead of failing.
        argv.add("--ignore-paused");
        argv.addAll(List.of("--pid-file", pidFile.toString()));
        if (request.workdir() != null && !request.workdir().isBlank()) argv.addAll(List.of("--cwd", request.workdir()));
        request.env().forEach((k, v) -> argv.addAll(List.of("--env", k + "=" + v)));
        argv.add(cid);
        argv.addAll(ShellCommand.argv(request.command()));
        if (!ShellCommand.inline(request.command()) && request.stdin() != null) {
            throw BurrowException.of(ErrorCode.INVALID_COMMAND, "a command over " + ShellCommand.MAX_INLINE_BYTES
                    + " bytes cannot be combined with stdin: write it to a file in the VM and run that");
        }
        byte[] stdin = ShellCommand.inline(request.command()) ? request.stdin() : ShellCommand.stdin(request.command());
        ContainerExec.Running running = locked(vmId, () -> {
            ContainerState s = runc.state(cid).orElse(null);
            if (s == null && !Files.exists(vmDir(vmId))) throw vmNotFound(vmId);
            if (s == null || !s.status().equals("running")) throw notRunning(vmId);
            try {
                Files.createDirectories(pidFile.getParent());
            } catch (IOException e) {
                throw new DriverException("cannot create " + pidFile.getParent() + ": " + e.getMessage(), e);
            }
            return ContainerExec.start(argv, stdin, request.maxOutputBytes());
        });
        try {
            long timeoutMs = request.timeout() == null ? 0 : Math.max(1, request.timeout().toMillis());
            ExecResult result = running.await(timeoutMs, pidFile, RuncSpec.cgroupsPath(config, vmId));
            log.atDebug().addKeyValue("vm_id", vmId).addKeyValue("op", "exec")
                    .addKeyValue("exit_code", result.exitCode()).addKeyValue("timed_out", result.timedOut())
                    .addKeyValue("duration_ms", result.durationMs()).log("exec finished");
            return result;
        } finally {
            try {
                Files.deleteIfExists(pidFile);
            } catch (IOException ignored) {
                // removed with the VM directory at the latest
            }
        }
    }

    /** Linux's MAX_ARG_STRLEN (32 pages), NUL included. */
    private static final int ARG_MAX_BYTES = 128 * 1024;

    @Override
    public SandboxProcess spawn(String vmId, ProcessSpec spec) {
        checkId(vmId);
        for (String arg : spec.argv()) {
            if (arg.indexOf('\0') >= 0) throw BurrowException.of(ErrorCode.INVALID_COMMAND, "a command argument contains a NUL byte");
            // MAX_ARG_STRLEN: execve in the VM would fail with E2BIG after runc started, as a host error
            if (arg.length() >= ARG_MAX_BYTES / 3 && arg.getBytes(java.nio.charset.StandardCharsets.UTF_8).length >= ARG_MAX_BYTES) {
                throw BurrowException.of(ErrorCode.INVALID_COMMAND, "a command argument is over " + ARG_MAX_BYTES
                        + " bytes, Linux's limit for one argument: pass long input on stdin or in a file");
            }
        }
        spec.env().forEach(RuncSpec::validateEnv);
        if (spec.workdir() != null && !spec.workdir().isBlank()) RuncSpec.validateWorkdir(spec.workdir());
        PasswdEntry user = resolveUser(vmId, spec.user() == null ? "0" : spec.user());
        String cid = containerId(vmId);
        Path pidFile = vmDir(vmId).resolve("exec").resolve(UUID.randomUUID() + ".pid");
        java.util.Map<String, String> env = new java.util.LinkedHashMap<>();
        env.put("HOME", user.home());
        env.put("USER", user.name());
        env.put("LOGNAME", user.name());
        env.put("SHELL", user.shell());
        if (spec.tty()) env.put("TERM", spec.term() == null || spec.term().isBlank() ? "xterm-256color" : spec.term());
        env.putAll(spec.env());
        Path processFile = pidFile.resolveSibling(pidFile.getFileName().toString().replace(".pid", ".json"));
        List<String> argv = new ArrayList<>(runc.execPrefix());
        argv.add("--ignore-paused");
        argv.addAll(List.of("--pid-file", pidFile.toString(), "--process", processFile.toString(), cid));
        return locked(vmId, () -> {
            ContainerState st = runc.state(cid).orElse(null);
            if (st == null && !Files.exists(vmDir(vmId))) throw vmNotFound(vmId);
            if (st == null || !st.status().equals("running")) throw notRunning(vmId);
            try {
                Files.createDirectories(pidFile.getParent());
            } catch (IOException e) {
                throw new DriverException("cannot create " + pidFile.getParent() + ": " + e.getMessage(), e);
            }
            RuncSpec.writeProcess(processFile, RuncSpec.execProcess(RuncSpec.readBundle(bundleDir(vmId)), spec.argv(), env,
                    spec.workdir() == null || spec.workdir().isBlank() ? null : spec.workdir(), user.uid(), user.gid(),
                    user.groups(), spec.tty(), spec.cols(), spec.rows()));
            return RuncProcess.start(argv, spec.tty(), spec.cols(), spec.rows(), pidFile, processFile,
                    RuncSpec.cgroupsPath(config, vmId));
        });
    }

    /** Resolves a user name (or uid[:gid]) with the VM's own passwd and group files. */
    private PasswdEntry resolveUser(String vmId, String user) {
        if (user.indexOf('\0') >= 0 || user.indexOf(':') >= 0 && !user.matches("\\d+:\\d+")) {
            throw BurrowException.of(ErrorCode.INVALID_USER, "not a user name or uid[:gid]: " + user);
        }
        Accounts files = accounts(vmId);
        Optional<PasswdEntry> entry = PasswdEntry.resolve(user, files.passwd(), files.group());
        if (entry.isEmpty() && user.equals("root")) return PasswdEntry.ROOT;
        return entry.orElseThrow(() -> BurrowException.of(ErrorCode.USER_NOT_FOUND,
                "VM " + vmId + " has no user '" + user + "' in its /etc/passwd"));
    }

    /** A VM's /etc/passwd and /etc/group as read (confined, VM frozen), with the stamp they had just before. */
    private record Accounts(String stamp, byte[] passwd, byte[] group) { }

    /**
     * The VM's passwd and group files, read again only when their stamp changed: every interactive spawn (an SSH
     * channel, a terminal) resolves its user, and reading confined means freezing the VM.
     */
    private Accounts accounts(String vmId) {
        String stamp = accountsStamp(vmId);
        Accounts cached = accountsCache.get(vmId);
        if (stamp != null && cached != null && cached.stamp().equals(stamp)) return cached;
        Accounts fresh = withRootHeld(vmId, root -> new Accounts(stamp, readSmall(root, "/etc/passwd"), readSmall(root, "/etc/group")));
        if (stamp != null) accountsCache.put(vmId, fresh);
        return fresh;
    }

    /**
     * Inode, size and modification time of the VM's /etc/passwd and /etc/group, looked up without freezing the VM
     * and without confinement on purpose: a stamp is only compared with the one stored beside contents that were
     * read confined, so a VM that points these paths elsewhere only makes the cache miss. Null when unreadable.
     */
    private String accountsStamp(String vmId) {
        try {
            Path root = locked(vmId, () -> storage.ensureMounted(vmId));
            StringBuilder stamp = new StringBuilder();
            for (String file : List.of("etc/passwd", "etc/group")) {
                try {
                    var a = Files.readAttributes(root.resolve(file), java.nio.file.attribute.BasicFileAttributes.class,
                            LinkOption.NOFOLLOW_LINKS);
                    stamp.append(a.fileKey()).append('/').append(a.size()).append('/')
                            .append(a.lastModifiedTime().to(java.util.concurrent.TimeUnit.NANOSECONDS)).append(';');
                } catch (java.nio.file.NoSuchFileException absent) {
                    stamp.append("-;");
                }
            }
            return stamp.toString();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static byte[] readSmall(Path root, String path) {
        try {
            return SandboxFiles.read(root, path, 4L << 20) instanceof FileContent.RegularFile f ? f.bytes() : null;
        } catch (BurrowException missing) {
            return null; // e.g. a busybox image without /etc/passwd: numeric ids still work
        }
    }

    @Override
    public List<String> sftpServerCommand() {
        return tools.sftpServer();
    }

    @Override
    public SocketChannel connect(String vmId, int port) {
        checkId(vmId);
        if (port < 1 || port > 65535) throw BurrowException.of(ErrorCode.INVALID_PORT, "port must be 1-65535: " + port);
        long pid = locked(vmId, () -> {
            ContainerState st = runc.state(containerId(vmId)).orElse(null);
            if (st == null && !Files.exists(vmDir(vmId))) throw vmNotFound(vmId);
            if (st == null || !st.status().equals("running")) throw notRunning(vmId);
            return st.pid();
        });
        return NetnsConnector.connectLoopback(pid, RuncSpec.cgroupsPath(config, vmId), port);
    }

    /**
     * With VM networking, the VM's named namespace (which outlives its processes) and its resolv.conf; without, the
     * loopback-only namespace of the running container's init.
     */
    @Override
    public SandboxNetns networkNamespace(String vmId) {
        checkId(vmId);
        return locked(vmId, () -> {
            if (network != null && network.info(vmId) != null) {
                NodeNetwork.Attachment a = network.ensure(vmId);
                return new SandboxNetns(a.netns(), a.resolvConf(), true);
            }
            ContainerState st = runc.state(containerId(vmId)).orElse(null);
            if (st == null && !Files.exists(vmDir(vmId))) throw vmNotFound(vmId);
            if (st == null || !st.status().equals("running")) throw notRunning(vmId);
            return new SandboxNetns(Path.of("/proc", Long.toString(st.pid()), "ns", "net"), null, false);
        });
    }

    @Override
    public FileContent read(String vmId, String path, long maxBytes) {
        checkId(vmId);
        return withRootHeld(vmId, root -> SandboxFiles.read(root, path, maxBytes));
    }

    @Override
    public void writeFile(String vmId, String path, byte[] content, boolean executable) {
        checkId(vmId);
        if (content == null) throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "content is missing");
        withRootHeld(vmId, root -> {
            SandboxFiles.write(root, path, content, executable);
            return null;
        });
    }

    /**
     * The VM is frozen only while the file is resolved and opened; the caller streams it afterwards from the open
     * descriptor (which no link made later can redirect), so a slow client never keeps the VM frozen or locked.
     */
    @Override
    public OpenFile openFile(String vmId, String path, long maxBytes) {
        checkId(vmId);
        OpenFile opened = withRootHeld(vmId, root -> {
            OpenFile o = SandboxFiles.open(root, path, maxBytes);
            // under the VM's lock, so a destroy either sees it (and closes it) or ran before the open
            if (o instanceof OpenFile.Bytes b) transfers.add(vmId, b.content());
            return o;
        });
        if (!(opened instanceof OpenFile.Bytes b)) return opened;
        java.io.InputStream content = b.content();
        return new OpenFile.Bytes(b.size(), new java.io.FilterInputStream(content) {
            @Override
            public void close() throws IOException {
                try {
                    super.close();
                } finally {
                    transfers.remove(vmId, content);
                }
            }
        });
    }

    /**
     * Three steps, the VM frozen only in the first and last: a temporary file is made beside the target, the stream
     * is copied into it through a fixed buffer while the VM runs, then it is renamed over the target if its name
     * still denotes the file written (see {@link SandboxFiles#commitWrite}). Any failure removes the temporary file.
     */
    @Override
    public void writeFile(String vmId, String path, java.io.InputStream content, boolean executable) {
        checkId(vmId);
        if (content == null) throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "content is missing");
        SandboxFiles.PendingWrite w = withRootHeld(vmId, root -> {
            SandboxFiles.PendingWrite pw = SandboxFiles.beginWrite(root, path);
            transfers.add(vmId, pw.channel());
            return pw;
        });
        boolean written = false;
        try {
            copy(vmId, path, content, w.channel());
            w.channel().close();
            withRootHeld(vmId, root -> {
                SandboxFiles.commitWrite(root, w, executable);
                return null;
            });
            written = true;
        } catch (IOException e) {
            throw SandboxFiles.transferFailure(vmId, path, e);
        } finally {
            transfers.remove(vmId, w.channel());
            try {
                w.channel().close();
            } catch (IOException ignored) {
                // closed already or the write failed; the outcome is decided above
            }
            if (!written) {
                try {
                    withRootHeld(vmId, root -> {
                        SandboxFiles.abortWrite(root, w);
                        return null;
                    });
                } catch (RuntimeException ignored) {
                    // the VM is gone, and its temporary file with it
                }
            }
        }
    }

    private static final int TRANSFER_BUFFER = 64 * 1024;

    private static void copy(String vmId, String path, java.io.InputStream in, java.nio.channels.FileChannel out)
            throws IOException {
        byte[] buf = new byte[TRANSFER_BUFFER];
        while (true) {
            int n;
            try {
                n = in.read(buf);
            } catch (IOException e) {
                throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "the content of " + path
                        + " could not be read from the request: " + e.getMessage());
            }
            if (n < 0) return;
            java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(buf, 0, n);
            while (bb.hasRemaining()) out.write(bb);
        }
    }

    @Override
    public void copyIn(String vmId, Path source, String path) {
        checkId(vmId);
        withRootHeld(vmId, root -> {
            TreeCopy.copy(root, source, path);
            return null;
        });
    }

    @Override
    public List<HostResource> list() {
        List<HostResource> found = new ArrayList<>();
        for (ContainerState c : runc.list()) {
            if (c.id().startsWith(CONTAINER_PREFIX)) {
                found.add(new HostResource(HostResource.Kind.CONTAINER, c.id().substring(CONTAINER_PREFIX.length()), c.id()));
            }
        }
        found.addAll(storage.list());
        found.addAll(cgroups.list());
        if (network != null) found.addAll(network.list());
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(vmsDir, p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
            for (Path d : dirs) found.add(new HostResource(HostResource.Kind.DIRECTORY, d.getFileName().toString(), d.toString()));
        } catch (IOException e) {
            throw new DriverException("cannot list " + vmsDir + ": " + e.getMessage(), e);
        }
        return found;
    }

    @Override
    public void resizeDisk(String vmId, int rootfsSizeMb) {
        checkId(vmId);
        if (!storage.supportsQuota()) { // only reachable by a caller that ignored diskQuota()'s absence
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "this host's VM storage (" + storage.name() + ") has no disk quota");
        }
        locked(vmId, () -> {
            if (!storage.exists(vmId)) throw vmNotFound(vmId);
            storage.setQuota(vmId, rootfsSizeMb);
            return null;
        });
    }

    @Override
    public void resize(String vmId, int vcpuCount, int memSizeMb) {
        checkId(vmId);
        RuncSpec.validateResources(vcpuCount, memSizeMb);
        locked(vmId, () -> {
            if (!Files.exists(bundleDir(vmId).resolve("config.json"))) throw vmNotFound(vmId);
            Optional<ContainerState> s = runc.state(containerId(vmId));
            // The live update first: it fails (e.g. memory below current usage) without changing the bundle.
            if (s.isPresent() && s.get().alive()) {
                long mem = RuncSpec.memoryBytes(memSizeMb);
                runc.update(containerId(vmId), RuncSpec.cpuQuotaUs(vcpuCount), RuncSpec.CPU_PERIOD_US, mem, mem);
            }
            // The bundle too, so the next start (and runc exec, which reads it) keeps the new limits.
            ObjectNode bundle = RuncSpec.readBundle(bundleDir(vmId));
            RuncSpec.setResources(bundle, vcpuCount, memSizeMb);
            RuncSpec.writeBundle(bundleDir(vmId), bundle);
            return null;
        });
    }

    /**
     * Removes what this node left that holds no VM: the cgroup parent directories and the runc state dir,
     * both only when empty. Running VMs are left alone: stopping the server does not stop them.
     */
    @Override
    public long diskUsageBytes(String vmId) {
        checkId(vmId);
        return storage.usedBytes(vmId);
    }

    @Override
    public long snapshotUsageBytes(String snapshotId) {
        checkSnapshotId(snapshotId);
        return storage.snapshotUsedBytes(snapshotId);
    }

    @Override
    public void updateNetwork(String vmId, dev.burrow.core.net.NetworkPolicy policy) {
        checkId(vmId);
        if (network == null) { // only reachable by a caller that ignored network()'s absence
            throw BurrowException.of(ErrorCode.NETWORKING_DISABLED, "this server runs VMs without networking");
        }
        locked(vmId, () -> {
            if (!Files.exists(bundleDir(vmId).resolve("config.json"))) throw vmNotFound(vmId);
            if (network.info(vmId) == null) {
                throw BurrowException.of(ErrorCode.VM_HAS_NO_NETWORK, "VM " + vmId + " was created before VM networking was enabled");
            }
            network.apply(vmId, policy);
            return null;
        });
    }

    @Override
    public long networkBytes(String vmId) {
        checkId(vmId);
        return network == null ? -1 : network.trafficBytes(vmId);
    }

    @Override
    public dev.burrow.core.driver.NetworkInfo networkInfo(String vmId) {
        checkId(vmId);
        return network == null ? null : network.info(vmId);
    }

    @Override
    public void close() {
        notify.close();
        if (network != null) {
            try {
                network.close();
            } catch (RuntimeException e) {
                log.atWarn().log("cannot close the VM network: " + e.getMessage());
            }
        }
        storage.close();
        cgroups.removeParentIfEmpty();
        try {
            Files.deleteIfExists(runc.root());
        } catch (DirectoryNotEmptyException e) {
            // containers still exist; the state dir is theirs
        } catch (IOException e) {
            log.atWarn().addKeyValue("path", runc.root()).log("cannot remove runc state dir: " + e.getMessage());
        }
    }

    /** The container id of a VM. */
    public static String containerId(String vmId) {
        return CONTAINER_PREFIX + vmId;
    }

    /** Deletes a leftover stopped container, points the bundle at the current root and starts the init. */
    private void runContainer(String vmId, Path root) {
        String cid = containerId(vmId);
        // again before every start: the parent is removed when the node closes with no VM left
        cgroups.limitNodePids(config.nodePidsLimit());
        if (runc.exists(cid)) runc.delete(cid, true);
        ObjectNode bundle = RuncSpec.readBundle(bundleDir(vmId));
        boolean changed = false;
        if (!root.toString().equals(bundle.path("root").path("path").asText())) {
            bundle.withObjectProperty("root").put("path", root.toString());
            changed = true;
        }
        // the services' sd_notify sockets (also for a VM created before they existed, from its next start on)
        Path notifyDir = vmDir(vmId).resolve("notify");
        try {
            dev.burrow.driver.runc.internal.NotifyHub.prepareDir(notifyDir);
        } catch (java.io.IOException e) {
            throw new DriverException("cannot create " + notifyDir + ": " + e.getMessage(), e);
        }
        changed |= RuncSpec.ensureNotifyMount(bundle, notifyDir);
        if (changed) RuncSpec.writeBundle(bundleDir(vmId), bundle);
        Path dir = vmDir(vmId);
        runc.runDetached(cid, bundleDir(vmId), dir.resolve("init.pid"), dir.resolve("console.log"));
    }

    /**
     * Runs a file operation on the VM's root with no VM process able to change the tree meanwhile: a running
     * VM is frozen for the duration (a symlink swapped in after {@code ConfinedPath} resolved a component
     * would otherwise redirect the host-side open); a suspended VM is already frozen and stays so; a stopped
     * VM has no processes.
     */
    private <T> T withRootHeld(String vmId, Function<Path, T> operation) {
        return locked(vmId, () -> {
            String cid = containerId(vmId);
            Optional<ContainerState> s = runc.state(cid);
            if (s.isEmpty() && !storage.exists(vmId)) throw vmNotFound(vmId);
            boolean froze = false;
            if (s.isPresent() && s.get().status().equals("running")) {
                runc.freeze(cid);
                froze = true;
            }
            Throwable failure = null;
            try {
                return operation.apply(storage.ensureMounted(vmId));
            } catch (RuntimeException | Error e) {
                failure = e;
                throw e;
            } finally {
                if (froze) {
                    try {
                        runc.thaw(cid);
                    } catch (RuntimeException e) {
                        if (failure != null) failure.addSuppressed(e);
                        else throw e;
                    }
                }
            }
        });
    }

    private boolean awaitStopped(String cid, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            Optional<ContainerState> s = runc.state(cid);
            if (s.isEmpty() || !s.get().alive()) return true;
            if (System.nanoTime() >= deadline) return false;
            try {
                Thread.sleep(POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DriverException("interrupted while stopping " + cid);
            }
        }
    }

    /**
     * SIGKILL to every process, wait for the init to exit, then a plain {@code runc delete}: about 30 ms,
     * where {@code delete --force} on a live container takes over 100 ms (runc polls while it waits).
     * Falls back to the forced delete if the init does not die in time.
     */
    private void killAndDelete(String cid) {
        Optional<ContainerState> s = runc.state(cid);
        if (s.isPresent() && s.get().alive()) {
            // For a paused container runc freezes, signals and thaws itself, so SIGKILL lands either way.
            runc.kill(cid, "KILL", true);
            String start = runc.initStartTime(cid).orElse("");
            if (!RuncCli.awaitExit(s.get().pid(), start, KILL_WAIT)) {
                runc.delete(cid, true);
                return;
            }
        }
        try {
            runc.delete(cid, false);
        } catch (DriverException e) {
            runc.delete(cid, true);
        }
    }

    private void destroyAfterFailure(String vmId, RuntimeException cause) {
        try {
            destroy(vmId);
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    private UnpackedImage resolveImage(String ref) {
        UnpackedImage image = images.find(ref);
        return image != null ? image : images.prepare(ref, ProgressListener.NONE);
    }

    /**
     * The image config (env, workdir) a VM made from a snapshot starts with: the one recorded with the
     * snapshot, so no image needs to be fetched; the given reference only for snapshots that have none.
     */
    private UnpackedImage imageOfSnapshot(String snapshotId, String imageRef) {
        RootfsStorage.SnapshotInfo snap = storage.findSnapshot(snapshotId)
                .orElseThrow(() -> BurrowException.of(ErrorCode.SNAPSHOT_NOT_FOUND, "snapshot " + snapshotId + " does not exist on this host"));
        if (snap.image() != null) return snap.image();
        if (imageRef == null || imageRef.isBlank()) {
            throw BurrowException.of(ErrorCode.INVALID_IMAGE, "snapshot " + snapshotId + " does not record its image; give an image reference");
        }
        return resolveImage(imageRef);
    }

    private <T> T lockedSnapshot(String snapshotId, Supplier<T> action) {
        ReentrantLock lock = snapshotLocks[Math.floorMod(snapshotId.hashCode(), snapshotLocks.length)];
        lock.lock();
        try {
            return action.get();
        } finally {
            lock.unlock();
        }
    }

    private <T> T locked(String vmId, Supplier<T> action) {
        ReentrantLock lock = locks[Math.floorMod(vmId.hashCode(), locks.length)];
        lock.lock();
        try {
            return action.get();
        } finally {
            lock.unlock();
        }
    }

    private Path vmDir(String vmId) {
        return vmsDir.resolve(vmId);
    }

    private Path bundleDir(String vmId) {
        return vmDir(vmId).resolve("bundle");
    }

    private static String checkId(String vmId) {
        if (vmId == null || !VM_ID.matcher(vmId).matches()) {
            throw BurrowException.of(ErrorCode.INVALID_VM_ID, "not a valid VM id: " + vmId);
        }
        return vmId;
    }

    private static String checkSnapshotId(String snapshotId) {
        if (snapshotId == null || !SNAPSHOT_ID.matcher(snapshotId).matches()) {
            throw BurrowException.of(ErrorCode.INVALID_SNAPSHOT_ID, "not a valid snapshot id: " + snapshotId);
        }
        return snapshotId;
    }

    private static BurrowException vmNotFound(String vmId) {
        return BurrowException.of(ErrorCode.VM_NOT_FOUND, "VM " + vmId + " does not exist on this host");
    }

    private static BurrowException notRunning(String vmId) {
        return BurrowException.of(ErrorCode.VM_NOT_RUNNING, "VM " + vmId + " is not running");
    }

    private static long ms(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
