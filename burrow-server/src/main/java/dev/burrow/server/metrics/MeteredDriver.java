package dev.burrow.server.metrics;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

import dev.burrow.core.driver.DriverCapabilities;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
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
 * observability code. Behaviour (results, exceptions) is exactly the wrapped driver's.
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

    public MeteredDriver(SandboxDriver inner, BurrowMetrics metrics, Tracing tracing) {
        this.inner = inner;
        this.metrics = metrics;
        this.tracing = tracing;
        this.driverName = inner.name();
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
    public DriverCapabilities capabilities() {
        return inner.capabilities();
    }

    @Override
    public ImageInfo prepareImage(String imageRef, ProgressListener progress) {
        return call("prepare_image", null, () -> inner.prepareImage(imageRef, progress));
    }

    @Override
    public void validateImageRef(String imageRef) {
        inner.validateImageRef(imageRef);
    }

    @Override
    public boolean imageCached(String imageRef) {
        return inner.imageCached(imageRef);
    }

    @Override
    public java.util.List<dev.burrow.core.driver.CachedImage> images() {
        return inner.images();
    }

    @Override
    public void deleteImage(String digest) {
        run("delete_image", null, () -> inner.deleteImage(digest));
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
    public ExecResult exec(String vmId, ExecRequest request) {
        return call("exec", vmId, () -> inner.exec(vmId, request));
    }

    @Override
    public dev.burrow.core.driver.SandboxProcess spawn(String vmId, dev.burrow.core.driver.ProcessSpec spec) {
        return call("spawn", vmId, () -> inner.spawn(vmId, spec));
    }

    @Override
    public dev.burrow.core.driver.ServiceNotify serviceNotify() {
        return inner.serviceNotify();
    }

    @Override
    public java.util.List<String> sftpServerCommand() {
        return inner.sftpServerCommand();
    }

    @Override
    public java.nio.channels.SocketChannel connect(String vmId, int port) {
        return call("connect", vmId, () -> inner.connect(vmId, port));
    }

    @Override
    public FileContent read(String vmId, String path, long maxBytes) {
        return call("read_file", vmId, () -> inner.read(vmId, path, maxBytes));
    }

    @Override
    public void writeFile(String vmId, String path, byte[] content, boolean executable) {
        run("write_file", vmId, () -> inner.writeFile(vmId, path, content, executable));
    }

    @Override
    public dev.burrow.core.driver.OpenFile openFile(String vmId, String path, long maxBytes) {
        return call("open_file", vmId, () -> inner.openFile(vmId, path, maxBytes));
    }

    @Override
    public void writeFile(String vmId, String path, java.io.InputStream content, boolean executable) {
        run("write_file", vmId, () -> inner.writeFile(vmId, path, content, executable));
    }

    @Override
    public void copyIn(String vmId, java.nio.file.Path source, String path) {
        run("copy_in", vmId, () -> inner.copyIn(vmId, source, path));
    }

    @Override
    public List<HostResource> list() {
        return call("list", null, inner::list);
    }

    @Override
    public long networkBytes(String vmId) {
        return inner.networkBytes(vmId); // a counter read every few seconds per VM: not worth a metric of its own
    }

    @Override
    public void resizeDisk(String vmId, int rootfsSizeMb) {
        run("resize_disk", vmId, () -> inner.resizeDisk(vmId, rootfsSizeMb));
    }

    @Override
    public void resize(String vmId, int vcpuCount, int memSizeMb) {
        run("resize", vmId, () -> inner.resize(vmId, vcpuCount, memSizeMb));
    }

    @Override
    public boolean networking() {
        return inner.networking();
    }

    @Override
    public void updateNetwork(String vmId, dev.burrow.core.net.NetworkPolicy policy) {
        run("update_network", vmId, () -> inner.updateNetwork(vmId, policy));
    }

    @Override
    public dev.burrow.core.driver.NetworkInfo networkInfo(String vmId) {
        return inner.networkInfo(vmId);
    }

    @Override
    public dev.burrow.core.driver.SandboxNetns networkNamespace(String vmId) {
        return inner.networkNamespace(vmId);
    }

    @Override
    public void snapshot(String vmId, String snapshotId) {
        run("snapshot", vmId, () -> inner.snapshot(vmId, snapshotId));
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        run("delete_snapshot", null, () -> inner.deleteSnapshot(snapshotId));
    }

    @Override
    public long diskUsageBytes(String vmId) {
        return call("disk_usage", vmId, () -> inner.diskUsageBytes(vmId));
    }

    @Override
    public long snapshotUsageBytes(String snapshotId) {
        return inner.snapshotUsageBytes(snapshotId);
    }

    @Override
    public void close() {
        inner.close();
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
