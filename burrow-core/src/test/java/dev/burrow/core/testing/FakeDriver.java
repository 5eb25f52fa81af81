package dev.burrow.core.testing;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

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

/**
 * An in-memory driver for coordinator unit tests and the HTTP test harness. Sandboxes are states in a map; every
 * call is idempotent as the SPI says; each sandbox has a file tree in memory with the runc driver's confinement and
 * errors ({@code ..}, NUL bytes and over-long names refused, parents created on write, FILE_NOT_FOUND, FILE_TOO_LARGE);
 * disk snapshots copy the tree, and a create from one starts with the copy. {@link #exec} answers what
 * {@link #execHandler} says (by default: exit 0 with the command as stdout); {@link #spawn} starts a process that
 * echoes its stdin like {@code cat} until its stdin is closed or it is signalled. {@link #failNext} makes one named
 * call throw. It proves nothing about isolation: that is the real drivers' tests' job.
 */
public final class FakeDriver implements SandboxDriver, ImageFacet, ProcessFacet, FileFacet, SnapshotFacet, NetworkFacet {
    private static final int MAX_PATH_BYTES = 4096;
    private static final int MAX_NAME_BYTES = 255;

    public final Map<String, SandboxState> sandboxes = new ConcurrentHashMap<>();
    /** What {@link #networkBytes} answers per VM (absent: -1, no network). */
    public final Map<String, Long> networkBytes = new ConcurrentHashMap<>();
    public final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** Disk snapshots by id. */
    public final java.util.Set<String> snapshots = ConcurrentHashMap.newKeySet();
    /** What {@link #exec} answers; a test may script it (per VM and request). */
    public volatile BiFunction<String, ExecRequest, ExecResult> execHandler =
            (vmId, request) -> new ExecResult(0, request.command(), "", false, false, 1);
    /** Each sandbox's files: absolute normalized path → content, null for a directory ("/" always exists). */
    private final Map<String, Tree> trees = new ConcurrentHashMap<>();
    private final Map<String, Tree> snapshotTrees = new ConcurrentHashMap<>();
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
        SandboxState state = state(vmId);
        if (state == SandboxState.ABSENT) throw BurrowException.notFound("VM_NOT_FOUND", "no sandbox " + vmId);
        if (state != SandboxState.RUNNING) throw BurrowException.conflict("VM_NOT_RUNNING", "sandbox " + vmId + " is " + state);
        return new EchoProcess();
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

    /**
     * Refuses {@code bad…} and whatever is not shaped like a reference (a {@code builtin:} name or
     * {@code [host[:port]/]name[:tag][@sha256:…]}); the runc driver's own parser is tested with the runc driver.
     */
    @Override
    public void validateImageRef(String imageRef) {
        if (imageRef.startsWith("bad") || !REFERENCE.matcher(imageRef).matches()) {
            throw BurrowException.badRequest("INVALID_IMAGE", "bad image " + imageRef);
        }
    }

    private static final java.util.regex.Pattern REFERENCE = java.util.regex.Pattern.compile(
            "builtin:[a-z0-9][a-z0-9._-]*|[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                    + "(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[0-9a-f]{64})?");


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
        // creating what exists succeeds and keeps its disk
        trees.computeIfAbsent(spec.vmId(), id -> {
            Tree from = spec.snapshotId() == null ? null : snapshotTrees.get(spec.snapshotId());
            return from == null ? new Tree() : from.copy();
        });
        sandboxes.put(spec.vmId(), SandboxState.RUNNING);
        return "fake-" + spec.vmId();
    }

    @Override
    public void start(String vmId) {
        call("start", vmId);
        if (!sandboxes.containsKey(vmId)) throw BurrowException.notFound("VM_NOT_FOUND", "no sandbox " + vmId);
        sandboxes.put(vmId, SandboxState.RUNNING);
    }

    @Override
    public void stop(String vmId, Duration grace) {
        call("stop", vmId);
        sandboxes.computeIfPresent(vmId, (k, s) -> SandboxState.STOPPED);
    }

    @Override
    public void suspend(String vmId) {
        call("suspend", vmId);
        sandboxes.computeIfPresent(vmId, (k, s) -> SandboxState.PAUSED);
    }

    @Override
    public void resume(String vmId) {
        call("resume", vmId);
        sandboxes.computeIfPresent(vmId, (k, s) -> SandboxState.RUNNING);
    }

    @Override
    public void destroy(String vmId) {
        call("destroy", vmId);
        sandboxes.remove(vmId);
        trees.remove(vmId);
    }

    @Override public long networkBytes(String vmId) { return networkBytes.getOrDefault(vmId, -1L); }

    @Override public SandboxState state(String vmId) { return sandboxes.getOrDefault(vmId, SandboxState.ABSENT); }

    @Override
    public ExecResult exec(String vmId, ExecRequest request) {
        call("exec", vmId);
        return execHandler.apply(vmId, request);
    }

    @Override
    public FileContent read(String vmId, String path, long maxBytes) {
        return tree(vmId).read(path, maxBytes);
    }

    @Override
    public void writeFile(String vmId, String path, byte[] content, boolean executable) {
        call("write", vmId);
        if (content == null) throw BurrowException.badRequest("FILES_BAD_REQUEST", "content is missing");
        tree(vmId).write(path, content);
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
        // an existing snapshot of that id is left as it is
        if (snapshots.add(snapshotId)) snapshotTrees.put(snapshotId, tree(vmId).copy());
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        call("deleteSnapshot", snapshotId);
        snapshots.remove(snapshotId);
        snapshotTrees.remove(snapshotId);
    }

    @Override public void close() { }

    private Tree tree(String vmId) {
        Tree t = trees.get(vmId);
        if (t == null) throw BurrowException.notFound("VM_NOT_FOUND", "no sandbox " + vmId);
        return t;
    }

    /** The request path's components, refused as the runc driver refuses them. */
    static List<String> components(String requestPath) {
        if (requestPath == null || requestPath.isEmpty()) throw bad("path is empty");
        if (requestPath.indexOf('\0') >= 0) throw bad("path contains a NUL byte");
        if (requestPath.getBytes(StandardCharsets.UTF_8).length > MAX_PATH_BYTES) throw bad("path is too long");
        List<String> parts = new ArrayList<>();
        for (String part : requestPath.split("/")) {
            if (part.isEmpty() || part.equals(".")) continue;
            if (part.equals("..")) throw bad("path must not contain '..': " + requestPath);
            if (part.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) throw bad("name too long in " + requestPath);
            parts.add(part);
        }
        return parts;
    }

    private static BurrowException bad(String message) {
        return BurrowException.badRequest("FILES_BAD_REQUEST", message);
    }

    private static BurrowException notFound(String requestPath) {
        return BurrowException.notFound("FILE_NOT_FOUND", "File not found: " + requestPath);
    }

    /** One sandbox's files. A directory maps to null; "/" is always a directory. */
    private static final class Tree {
        private final TreeMap<String, byte[]> nodes = new TreeMap<>();

        Tree() {
            nodes.put("/", null);
        }

        synchronized Tree copy() {
            Tree t = new Tree();
            t.nodes.putAll(nodes);
            return t;
        }

        synchronized FileContent read(String requestPath, long maxBytes) {
            String path = path(components(requestPath));
            if (!nodes.containsKey(path)) throw notFound(requestPath);
            byte[] bytes = nodes.get(path);
            if (bytes == null) {
                String prefix = path.equals("/") ? "/" : path + "/";
                List<FileContent.Entry> entries = new ArrayList<>();
                for (var e : nodes.tailMap(prefix, false).entrySet()) {
                    if (!e.getKey().startsWith(prefix)) break;
                    String rest = e.getKey().substring(prefix.length());
                    if (!rest.contains("/")) entries.add(new FileContent.Entry(rest, e.getValue() == null));
                }
                return new FileContent.Directory(entries);
            }
            if (bytes.length > maxBytes) {
                throw new BurrowException(BurrowException.Kind.TOO_LARGE, "FILE_TOO_LARGE",
                        "File " + requestPath + " is larger than " + maxBytes + " bytes");
            }
            return new FileContent.RegularFile(bytes.clone());
        }

        synchronized void write(String requestPath, byte[] content) {
            List<String> parts = components(requestPath);
            if (parts.isEmpty()) throw bad("Is a directory: " + requestPath);
            // parents first: a file where a directory must be is "not a directory", as on a real file system
            for (int i = 1; i < parts.size(); i++) {
                String dir = path(parts.subList(0, i));
                if (nodes.containsKey(dir) && nodes.get(dir) != null) throw bad("not a directory: " + dir);
            }
            String path = path(parts);
            if (nodes.containsKey(path) && nodes.get(path) == null) throw bad("Is a directory: " + requestPath);
            for (int i = 1; i < parts.size(); i++) nodes.putIfAbsent(path(parts.subList(0, i)), null);
            nodes.put(path, content.clone());
        }

        private static String path(List<String> parts) {
            return "/" + String.join("/", parts);
        }
    }

    /**
     * A process that echoes its stdin to its stdout, like {@code cat}: it exits 0 when its stdin is closed and
     * 128+signal when it is signalled or closed.
     */
    private static final class EchoProcess implements SandboxProcess {
        private final Pipe pipe;
        private final OutputStream stdin;
        private final InputStream stdout;
        private final CountDownLatch exited = new CountDownLatch(1);
        private volatile int exitCode = -1;

        EchoProcess() {
            try {
                pipe = Pipe.open();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            OutputStream sink = Channels.newOutputStream(pipe.sink());
            this.stdout = Channels.newInputStream(pipe.source());
            this.stdin = new OutputStream() {
                @Override
                public void write(int b) throws IOException {
                    sink.write(b);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    sink.write(b, off, len);
                }

                @Override
                public void close() throws IOException {
                    exit(0);
                }
            };
        }

        private synchronized void exit(int code) {
            if (exited.getCount() == 0) return;
            exitCode = code;
            try {
                pipe.sink().close(); // stdout ends
            } catch (IOException ignored) {
                // nothing to release beyond the channel
            }
            exited.countDown();
        }

        @Override public OutputStream stdin() { return stdin; }

        @Override public InputStream stdout() { return stdout; }

        @Override public InputStream stderr() { return new ByteArrayInputStream(new byte[0]); }

        @Override public void resize(int cols, int rows) { }

        @Override public void signal(int signal) { exit(128 + signal); }

        @Override
        public int waitFor() throws InterruptedException {
            exited.await();
            return exitCode;
        }

        @Override
        public OptionalInt waitFor(Duration timeout) throws InterruptedException {
            return exited.await(timeout.toMillis(), TimeUnit.MILLISECONDS) ? OptionalInt.of(exitCode) : OptionalInt.empty();
        }

        @Override public boolean isAlive() { return exited.getCount() > 0; }

        @Override
        public void close() {
            exit(128 + 9);
            try {
                pipe.source().close();
            } catch (IOException ignored) {
                // nothing to release beyond the channel
            }
        }
    }
}
