package dev.burrow.core.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.CachedImage;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.FileFacet;
import dev.burrow.core.driver.ImageFacet;
import dev.burrow.core.driver.NetworkFacet;
import dev.burrow.core.driver.NetworkInfo;
import dev.burrow.core.driver.ProcessFacet;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxNetns;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.driver.SnapshotFacet;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;

/** An in-memory driver for coordinator unit tests; {@link #failNext} makes one named call throw. */
public final class FakeDriver implements SandboxDriver, ImageFacet, ProcessFacet, FileFacet, SnapshotFacet, NetworkFacet {
    public final Map<String, SandboxState> sandboxes = new ConcurrentHashMap<>();
    public final Map<String, byte[]> files = new ConcurrentHashMap<>();
    /** What {@link #networkBytes} answers per VM (absent: -1, no network). */
    public final Map<String, Long> networkBytes = new ConcurrentHashMap<>();
    public final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** Disk snapshots by id. */
    public final java.util.Set<String> snapshots = ConcurrentHashMap.newKeySet();
    private volatile String failOp;

    public void failNext(String op) {
        this.failOp = op;
    }

    private void call(String op, String vmId) {
        calls.add(op + ":" + vmId);
        if (op.equals(failOp)) {
            failOp = null;
            throw new DriverException("injected failure in " + op);
        }
    }

    @Override public String name() { return "fake"; }

    @Override public java.util.Optional<ImageFacet> images() { return java.util.Optional.of(this); }

    @Override public java.util.Optional<ProcessFacet> processes() { return java.util.Optional.of(this); }

    @Override public java.util.Optional<FileFacet> files() { return java.util.Optional.of(this); }

    @Override public java.util.Optional<SnapshotFacet> snapshots() { return java.util.Optional.of(this); }

    @Override public java.util.Optional<NetworkFacet> network() { return java.util.Optional.of(this); }

    @Override public List<CachedImage> cachedImages() { return List.of(); }

    @Override public void deleteImage(String digest) { calls.add("deleteImage:" + digest); }

    @Override
    public SandboxProcess spawn(String vmId, ProcessSpec spec) {
        call("spawn", vmId);
        throw new DriverException("the fake driver starts no interactive processes");
    }

    @Override
    public java.nio.channels.SocketChannel connect(String vmId, int port) {
        call("connect", vmId);
        throw new DriverException("the fake driver has no VM loopback to connect to");
    }

    @Override public List<String> sftpServerCommand() { return List.of(); }

    @Override public SandboxNetns networkNamespace(String vmId) { return null; }

    @Override public void copyIn(String vmId, java.nio.file.Path source, String path) { call("copyIn", vmId); }

    @Override public void updateNetwork(String vmId, NetworkPolicy policy) { call("updateNetwork", vmId); }

    @Override public NetworkInfo networkInfo(String vmId) { return null; }

    @Override public long snapshotUsageBytes(String snapshotId) { return -1; }

    /** Images named {@code pull…} are not cached: a create of one goes through 'pulling'. */
    @Override
    public boolean imageCached(String imageRef) {
        return !imageRef.startsWith("pull");
    }

    @Override
    public void validateImageRef(String imageRef) {
        if (imageRef.startsWith("bad")) throw BurrowException.badRequest("INVALID_IMAGE", "bad image " + imageRef);
    }

    /** Released to let a {@code pull-wait…} image's pull finish. */
    public final java.util.concurrent.CountDownLatch pullGate = new java.util.concurrent.CountDownLatch(1);

    @Override
    public ImageInfo prepareImage(String imageRef, ProgressListener progress) {
        calls.add("prepare:" + imageRef);
        if (imageRef.startsWith("bad")) throw BurrowException.badRequest("INVALID_IMAGE", "bad image " + imageRef);
        if (imageRef.startsWith("pull-missing")) throw BurrowException.notFound("IMAGE_NOT_FOUND", "no image " + imageRef);
        if (imageRef.startsWith("pull-wait")) {
            try {
                pullGate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return new ImageInfo(imageRef, "sha256:fake", Map.of(), "/", List.of());
    }

    @Override
    public String create(SandboxSpec spec) {
        call("create", spec.vmId());
        if (spec.snapshotId() != null && !snapshots.contains(spec.snapshotId())) {
            throw BurrowException.notFound("SNAPSHOT_NOT_FOUND", "no snapshot " + spec.snapshotId());
        }
        sandboxes.put(spec.vmId(), SandboxState.RUNNING);
        return "fake-" + spec.vmId();
    }

    @Override public void start(String vmId) { call("start", vmId); sandboxes.put(vmId, SandboxState.RUNNING); }

    @Override public void stop(String vmId, Duration grace) { call("stop", vmId); sandboxes.put(vmId, SandboxState.STOPPED); }

    @Override public void suspend(String vmId) { call("suspend", vmId); sandboxes.put(vmId, SandboxState.PAUSED); }

    @Override public void resume(String vmId) { call("resume", vmId); sandboxes.put(vmId, SandboxState.RUNNING); }

    @Override
    public void destroy(String vmId) {
        call("destroy", vmId);
        sandboxes.remove(vmId);
        files.keySet().removeIf(k -> k.startsWith(vmId + ":"));
    }

    @Override public long networkBytes(String vmId) { return networkBytes.getOrDefault(vmId, -1L); }

    @Override public SandboxState state(String vmId) { return sandboxes.getOrDefault(vmId, SandboxState.ABSENT); }

    @Override
    public ExecResult exec(String vmId, ExecRequest request) {
        call("exec", vmId);
        return new ExecResult(0, request.command(), "", false, false, 1);
    }

    @Override
    public FileContent read(String vmId, String path, long maxBytes) {
        byte[] b = files.get(vmId + ":" + path);
        if (b == null) throw BurrowException.notFound("FILE_NOT_FOUND", "File not found: " + path);
        return new FileContent.RegularFile(b);
    }

    @Override
    public void writeFile(String vmId, String path, byte[] content, boolean executable) {
        call("write", vmId);
        files.put(vmId + ":" + path, content);
    }

    @Override
    public List<HostResource> list() {
        var found = new ArrayList<HostResource>();
        sandboxes.keySet().forEach(id -> found.add(new HostResource(HostResource.Kind.CONTAINER, id, id)));
        snapshots.forEach(id -> found.add(new HostResource(HostResource.Kind.SNAPSHOT, id, id)));
        return found;
    }

    @Override
    public void snapshot(String vmId, String snapshotId) {
        call("snapshot", vmId);
        if (!sandboxes.containsKey(vmId)) throw BurrowException.notFound("VM_NOT_FOUND", "no sandbox " + vmId);
        snapshots.add(snapshotId);
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        call("deleteSnapshot", snapshotId);
        snapshots.remove(snapshotId);
    }

    @Override public void close() { }
}
