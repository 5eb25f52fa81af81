package dev.burrow.server.metrics;

import java.io.InputStream;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

import dev.burrow.core.driver.CachedImage;
import dev.burrow.core.driver.DiskQuotaFacet;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.FileFacet;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.ImageFacet;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.NetworkFacet;
import dev.burrow.core.driver.NetworkInfo;
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.driver.ProcessFacet;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.ResourceFacet;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxNetns;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.driver.ServiceNotify;
import dev.burrow.core.driver.SnapshotFacet;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.server.tracing.Tracing;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;

/**
 * A {@link SandboxDriver} that times every call ({@code burrow_driver_op_duration_seconds{driver,op}}), counts
 * the ones that throw, and traces them; wired around the real driver in one place, so no driver carries
 * observability code. Its facets are the wrapped driver's, each wrapped the same way (and absent where the wrapped
 * driver's are). Behaviour (results, exceptions) is exactly the wrapped driver's.
 */
public final class MeteredDriver implements SandboxDriver {
    private static final AttributeKey<String> VM_ID = AttributeKey.stringKey("burrow.vm.id");
    /**
     * Calls that only look. Background loops make them every few seconds outside any request; a root span
     * for each would bury the traces that matter, so they are traced only as part of a larger trace.
     */
    private static final Set<String> READ_ONLY = Set.of("list", "state");

    private final SandboxDriver inner;
    private final BurrowMetrics metrics;
    private final Tracing tracing;
    private final String driverName;
    private final Optional<ImageFacet> images;
    private final Optional<ProcessFacet> processes;
    private final Optional<FileFacet> files;
    private final Optional<SnapshotFacet> snapshots;
    private final Optional<NetworkFacet> network;
    private final Optional<ResourceFacet> resources;
    private final Optional<DiskQuotaFacet> diskQuota;

    public MeteredDriver(SandboxDriver inner, BurrowMetrics metrics, Tracing tracing) {
        this.inner = inner;
        this.metrics = metrics;
        this.tracing = tracing;
        this.driverName = inner.name();
        this.images = inner.images().map(MeteredImages::new);
        this.processes = inner.processes().map(MeteredProcesses::new);
        this.files = inner.files().map(MeteredFiles::new);
        this.snapshots = inner.snapshots().map(MeteredSnapshots::new);
        this.network = inner.network().map(MeteredNetwork::new);
        this.resources = inner.resources().map(MeteredResources::new);
        this.diskQuota = inner.diskQuota().map(MeteredDiskQuota::new);
    }

    /** The wrapped driver (for code that needs driver-specific methods). */
    public SandboxDriver unwrap() {
        return inner;
    }

    @Override
    public String name() {
        return driverName;
    }

    @Override
    public String create(SandboxSpec spec) {
        return call("create", spec.vmId(), () -> inner.create(spec));
    }

    @Override
    public void start(String vmId) {
        run("start", vmId, () -> inner.start(vmId));
    }

    @Override
    public void stop(String vmId, Duration grace) {
        run("stop", vmId, () -> inner.stop(vmId, grace));
    }

    @Override
    public void suspend(String vmId) {
        run("suspend", vmId, () -> inner.suspend(vmId));
    }

    @Override
    public void resume(String vmId) {
        run("resume", vmId, () -> inner.resume(vmId));
    }

    @Override
    public void destroy(String vmId) {
        run("destroy", vmId, () -> inner.destroy(vmId));
    }

    @Override
    public SandboxState state(String vmId) {
        return call("state", vmId, () -> inner.state(vmId));
    }

    @Override
    public List<HostResource> list() {
        return call("list", null, inner::list);
    }

    @Override
    public void close() {
        inner.close();
    }

    // ---- facets: each wrapped once, so their calls are timed like the core's ----

    @Override
    public Optional<ImageFacet> images() {
        return images;
    }

    @Override
    public Optional<ProcessFacet> processes() {
        return processes;
    }

    @Override
    public Optional<FileFacet> files() {
        return files;
    }

    @Override
    public Optional<SnapshotFacet> snapshots() {
        return snapshots;
    }

    @Override
    public Optional<NetworkFacet> network() {
        return network;
    }

    @Override
    public Optional<ServiceNotify> serviceNotify() {
        return inner.serviceNotify(); // socket bookkeeping on the host, no driver operation to time
    }

    @Override
    public Optional<ResourceFacet> resources() {
        return resources;
    }

    @Override
    public Optional<DiskQuotaFacet> diskQuota() {
        return diskQuota;
    }

    private final class MeteredImages implements ImageFacet {
        private final ImageFacet f;

        MeteredImages(ImageFacet f) {
            this.f = f;
        }

        @Override
        public ImageInfo prepareImage(String imageRef, ProgressListener progress) {
            return call("prepare_image", null, () -> f.prepareImage(imageRef, progress));
        }

        @Override
        public void validateImageRef(String imageRef) {
            f.validateImageRef(imageRef); // parses a string, touches nothing
        }

        @Override
        public boolean imageCached(String imageRef) {
            return f.imageCached(imageRef);
        }

        @Override
        public List<CachedImage> cachedImages() {
            return f.cachedImages();
        }

        @Override
        public void deleteImage(String digest) {
            run("delete_image", null, () -> f.deleteImage(digest));
        }
    }

    private final class MeteredProcesses implements ProcessFacet {
        private final ProcessFacet f;

        MeteredProcesses(ProcessFacet f) {
            this.f = f;
        }

        @Override
        public ExecResult exec(String vmId, ExecRequest request) {
            return call("exec", vmId, () -> f.exec(vmId, request));
        }

        @Override
        public SandboxProcess spawn(String vmId, ProcessSpec spec) {
            return call("spawn", vmId, () -> f.spawn(vmId, spec));
        }

        @Override
        public SocketChannel connect(String vmId, int port) {
            return call("connect", vmId, () -> f.connect(vmId, port));
        }

        @Override
        public List<String> sftpServerCommand() {
            return f.sftpServerCommand();
        }

        @Override
        public SandboxNetns networkNamespace(String vmId) {
            return f.networkNamespace(vmId);
        }
    }

    private final class MeteredFiles implements FileFacet {
        private final FileFacet f;

        MeteredFiles(FileFacet f) {
            this.f = f;
        }

        @Override
        public FileContent read(String vmId, String path, long maxBytes) {
            return call("read_file", vmId, () -> f.read(vmId, path, maxBytes));
        }

        @Override
        public void writeFile(String vmId, String path, byte[] content, boolean executable) {
            run("write_file", vmId, () -> f.writeFile(vmId, path, content, executable));
        }

        @Override
        public OpenFile openFile(String vmId, String path, long maxBytes) {
            return call("open_file", vmId, () -> f.openFile(vmId, path, maxBytes));
        }

        @Override
        public void writeFile(String vmId, String path, InputStream content, boolean executable) {
            run("write_file", vmId, () -> f.writeFile(vmId, path, content, executable));
        }

        @Override
        public void copyIn(String vmId, Path source, String path) {
            run("copy_in", vmId, () -> f.copyIn(vmId, source, path));
        }
    }

    private final class MeteredSnapshots implements SnapshotFacet {
        private final SnapshotFacet f;

        MeteredSnapshots(SnapshotFacet f) {
            this.f = f;
        }

        @Override
        public void snapshot(String vmId, String snapshotId) {
            run("snapshot", vmId, () -> f.snapshot(vmId, snapshotId));
        }

        @Override
        public void deleteSnapshot(String snapshotId) {
            run("delete_snapshot", null, () -> f.deleteSnapshot(snapshotId));
        }

        @Override
        public long snapshotUsageBytes(String snapshotId) {
            return f.snapshotUsageBytes(snapshotId);
        }
    }

    private final class MeteredNetwork implements NetworkFacet {
        private final NetworkFacet f;

        MeteredNetwork(NetworkFacet f) {
            this.f = f;
        }

        @Override
        public void updateNetwork(String vmId, NetworkPolicy policy) {
            run("update_network", vmId, () -> f.updateNetwork(vmId, policy));
        }

        @Override
        public NetworkInfo networkInfo(String vmId) {
            return f.networkInfo(vmId);
        }

        @Override
        public long networkBytes(String vmId) {
            return f.networkBytes(vmId); // a counter read every few seconds per VM: not worth a metric of its own
        }
    }

    private final class MeteredResources implements ResourceFacet {
        private final ResourceFacet f;

        MeteredResources(ResourceFacet f) {
            this.f = f;
        }

        @Override
        public void resize(String vmId, int vcpuCount, int memSizeMb) {
            run("resize", vmId, () -> f.resize(vmId, vcpuCount, memSizeMb));
        }

        @Override
        public long diskUsageBytes(String vmId) {
            return call("disk_usage", vmId, () -> f.diskUsageBytes(vmId));
        }
    }

    private final class MeteredDiskQuota implements DiskQuotaFacet {
        private final DiskQuotaFacet f;

        MeteredDiskQuota(DiskQuotaFacet f) {
            this.f = f;
        }

        @Override
        public void resizeDisk(String vmId, int rootfsSizeMb) {
            run("resize_disk", vmId, () -> f.resizeDisk(vmId, rootfsSizeMb));
        }
    }

    private void run(String op, String vmId, Runnable body) {
        call(op, vmId, () -> {
            body.run();
            return null;
        });
    }

    private <T> T call(String op, String vmId, Supplier<T> body) {
        Span span = startSpan(op, vmId);
        long t0 = System.nanoTime();
        boolean failed = true;
        try (Scope ignored = span == null ? null : span.makeCurrent()) {
            T result = body.get();
            failed = false;
            return result;
        } catch (RuntimeException | Error e) {
            if (span != null) {
                span.recordException(e);
                span.setStatus(StatusCode.ERROR, String.valueOf(e.getMessage()));
            }
            throw e;
        } finally {
            metrics.driverOp(driverName, op, System.nanoTime() - t0, failed);
            if (span != null) span.end();
        }
    }

    private Span startSpan(String op, String vmId) {
        if (!tracing.enabled()) return null;
        Context parent = tracing.parentFor(vmId);
        if (READ_ONLY.contains(op) && !Span.fromContext(parent).getSpanContext().isValid()) return null;
        var builder = tracing.tracer().spanBuilder("driver." + op).setParent(parent).setSpanKind(SpanKind.CLIENT)
                .setAttribute("burrow.driver", driverName);
        if (vmId != null) builder.setAttribute(VM_ID, vmId);
        return builder.startSpan();
    }
}
