package dev.burrow.driver.runc;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.DriverCapabilities;
import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;
import dev.burrow.driver.runc.internal.CgroupDirs;
import dev.burrow.driver.runc.internal.ContainerExec;
import dev.burrow.driver.runc.internal.ImageStore;
import dev.burrow.driver.runc.internal.OverlayStorage;
import dev.burrow.driver.runc.internal.RootfsStorage;
import dev.burrow.driver.runc.internal.RuncCli;
import dev.burrow.driver.runc.internal.RuncCli.ContainerState;
import dev.burrow.driver.runc.internal.RuncSpec;
import dev.burrow.driver.runc.internal.SafeDelete;
import dev.burrow.driver.runc.internal.SandboxFiles;
import dev.burrow.driver.runc.internal.UnpackedImage;

/**
 * One runc container per VM. Host layout per VM, all under {@code <dataDir>/vms/<vmId>/}: the root
 * filesystem (see {@link RootfsStorage}), {@code bundle/config.json}, {@code console.log} (the init's
 * stdio), {@code init.pid} and {@code exec/} (pid files of running execs). The container is
 * {@code burrow-<vmId>} in the runc state dir {@link RuncDriverConfig#runcRoot()}; its cgroup is
 * {@code <cgroupParent>/<vmId>} in every hierarchy.
 *
 * <p>Operations on one VM are serialized by a lock (the coordinator serializes transitions, but file
 * operations and execs arrive concurrently with them and briefly freeze the VM).
 */
public final class RuncDriver implements SandboxDriver {
    private static final Logger log = LoggerFactory.getLogger(RuncDriver.class);
    private static final Pattern VM_ID = Pattern.compile("[a-z0-9]{1,63}");
    private static final String CONTAINER_PREFIX = "burrow-";
    private static final Duration POLL = Duration.ofMillis(20);
    private static final Duration KILL_WAIT = Duration.ofSeconds(5);

    private final RuncDriverConfig config;
    private final ImageStore images;
    private final Path vmsDir;
    private final RootfsStorage storage;
    private final RuncCli runc;
    private final CgroupDirs cgroups;
    private final ReentrantLock[] locks = new ReentrantLock[64];

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
        this.storage = new OverlayStorage(vmsDir);
        this.runc = new RuncCli(config.runcRoot().toAbsolutePath());
        this.cgroups = new CgroupDirs(config.cgroupParent());
        for (int i = 0; i < locks.length; i++) locks[i] = new ReentrantLock();
    }

    @Override
    public String name() {
        return "runc";
    }

    @Override
    public DriverCapabilities capabilities() {
        // Suspend is the cgroup freezer, which keeps memory. No snapshots yet (overlay would copy the upper
        // dir; btrfs will make them cheap), CRIU fails on this kernel, overlayfs has no quota.
        return new DriverCapabilities(true, false, false, false, true);
    }

    @Override
    public ImageInfo prepareImage(String imageRef, ProgressListener progress) {
        UnpackedImage image = images.prepare(imageRef, progress == null ? ProgressListener.NONE : progress);
        return new ImageInfo(image.ref(), image.digest(), image.env(), image.workdir(), image.cmd());
    }

    @Override
    public String create(SandboxSpec spec) {
        String vmId = checkId(spec.vmId());
        RuncSpec.validateResources(spec.vcpuCount(), spec.memSizeMb());
        if (spec.imageRef() == null || spec.imageRef().isBlank()) {
            throw BurrowException.badRequest("INVALID_IMAGE", "VM " + vmId + " has no image reference");
        }
        return locked(vmId, () -> {
            long t0 = System.nanoTime();
            Optional<ContainerState> current = runc.state(containerId(vmId));
            if (current.isPresent() && current.get().alive()) return containerId(vmId);
            boolean fresh = !Files.exists(vmDir(vmId), LinkOption.NOFOLLOW_LINKS);
            try {
                UnpackedImage image = images.find(spec.imageRef());
                if (image == null) image = images.prepare(spec.imageRef(), ProgressListener.NONE);
                Path root = storage.prepare(vmId, image);
                RuncSpec.writeBundle(bundleDir(vmId), RuncSpec.build(root, spec, image, config));
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
        locked(vmId, () -> {
            long t0 = System.nanoTime();
            String cid = containerId(vmId);
            if (runc.exists(cid)) {
                killAndDelete(cid);
                if (runc.exists(cid)) throw new DriverException("container " + cid + " survived delete");
            }
            // Teardown mirrors creation in reverse: processes, cgroups, mounts, then directories.
            cgroups.removeVm(vmId);
            storage.release(vmId);
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
            throw BurrowException.badRequest("INVALID_COMMAND", "command is missing or contains a NUL byte");
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
        argv.addAll(List.of(cid, "/bin/sh", "-c", request.command()));
        ContainerExec.Running running = locked(vmId, () -> {
            ContainerState s = runc.state(cid).orElse(null);
            if (s == null && !Files.exists(vmDir(vmId))) throw vmNotFound(vmId);
            if (s == null || !s.status().equals("running")) throw notRunning(vmId);
            try {
                Files.createDirectories(pidFile.getParent());
            } catch (IOException e) {
                throw new DriverException("cannot create " + pidFile.getParent() + ": " + e.getMessage(), e);
            }
            return ContainerExec.start(argv, request.stdin(), request.maxOutputBytes());
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

    @Override
    public FileContent read(String vmId, String path, long maxBytes) {
        checkId(vmId);
        return withRootHeld(vmId, root -> SandboxFiles.read(root, path, maxBytes));
    }

    @Override
    public void writeFile(String vmId, String path, byte[] content, boolean executable) {
        checkId(vmId);
        if (content == null) throw BurrowException.badRequest("FILES_BAD_REQUEST", "content is missing");
        withRootHeld(vmId, root -> {
            SandboxFiles.write(root, path, content, executable);
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
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(vmsDir, p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
            for (Path d : dirs) found.add(new HostResource(HostResource.Kind.DIRECTORY, d.getFileName().toString(), d.toString()));
        } catch (IOException e) {
            throw new DriverException("cannot list " + vmsDir + ": " + e.getMessage(), e);
        }
        return found;
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
    public void close() {
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
        if (runc.exists(cid)) runc.delete(cid, true);
        ObjectNode bundle = RuncSpec.readBundle(bundleDir(vmId));
        if (!root.toString().equals(bundle.path("root").path("path").asText())) {
            bundle.withObjectProperty("root").put("path", root.toString());
            RuncSpec.writeBundle(bundleDir(vmId), bundle);
        }
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
                runc.pause(cid);
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
                        runc.resume(cid);
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
            throw BurrowException.badRequest("INVALID_VM_ID", "not a valid VM id: " + vmId);
        }
        return vmId;
    }

    private static BurrowException vmNotFound(String vmId) {
        return BurrowException.notFound("VM_NOT_FOUND", "VM " + vmId + " does not exist on this host");
    }

    private static BurrowException notRunning(String vmId) {
        return BurrowException.conflict("VM_NOT_RUNNING", "VM " + vmId + " is not running");
    }

    private static long ms(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
