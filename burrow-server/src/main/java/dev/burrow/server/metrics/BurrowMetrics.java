package dev.burrow.server.metrics;

import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.loop.LoopListener;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * Every metric Burrow exports, in its own Prometheus registry (never Micrometer's global one, so two servers
 * in one JVM — tests — do not mix their numbers). Micrometer names are dotted; the Prometheus names they
 * become are in the comments, and {@code deploy/} (alerts, dashboard) uses those.
 *
 * <p>Histograms use fixed buckets rather than Micrometer's percentile histogram (~70 buckets a series): the
 * bucket bounds are chosen so the alert thresholds (create p95 &gt; 5 s) fall on a bucket edge.
 */
public final class BurrowMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BurrowMetrics.class);

    public static final String SUCCESS = "success";
    public static final String FAILURE = "failure";

    private static final Duration[] VM_BUCKETS = seconds(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300);
    private static final Duration[] FAST_BUCKETS = seconds(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
            5, 10, 30, 60);

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gcMetrics = new JvmGcMetrics();
    private final Supplier<List<Vm>> liveVms;
    /** (type, status) → count, refreshed from the store on every scrape. */
    private final Map<String, Map<VmStatus, AtomicLong>> activeVms = new HashMap<>();
    private final Map<String, AtomicLong> loopLastSuccess = new ConcurrentHashMap<>();

    /**
     * @param liveVms  every VM that is not deleted (read on each scrape for {@code burrow_active_vms})
     * @param capacity how many VMs this server is meant to hold ({@code --max-vms}); exported for the
     *                 near-capacity alert
     */
    public BurrowMetrics(Supplier<List<Vm>> liveVms, int capacity) {
        this.liveVms = liveVms;
        new JvmMemoryMetrics().bindTo(registry);
        gcMetrics.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);

        // burrow_vm_capacity
        Gauge.builder("burrow.vm.capacity", () -> capacity)
                .description("How many VMs this server is configured to hold (--max-vms)").register(registry);
        // burrow_active_vms{type,status}: a row for every type and every status but deleted, zeros included,
        // so that sums and ratios over it are never an empty vector.
        for (String type : VmType.ALL) {
            Map<VmStatus, AtomicLong> byStatus = new EnumMap<>(VmStatus.class);
            for (VmStatus status : VmStatus.values()) {
                if (status == VmStatus.DELETED) continue;
                AtomicLong n = new AtomicLong();
                byStatus.put(status, n);
                Gauge.builder("burrow.active.vms", n, AtomicLong::get)
                        .description("VMs that are not deleted, by type and status")
                        .tags("type", type, "status", status.dbName()).register(registry);
            }
            activeVms.put(type, byStatus);
            // Created up front so rate() sees the first failure (a counter born at 1 hides its first increment).
            for (String outcome : List.of(SUCCESS, FAILURE)) createCounter(type, outcome);
            createTimer(type);
        }
        suspendTimer();
        resumeTimer();
        // At zero from the start, for the same reason as the create counters: the orphan alert's increase()
        // must see the first orphan.
        reconcilerActions("orphan_destroyed");
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /** The Prometheus text exposition, with the store-derived gauges brought up to date first. */
    public String scrape() {
        refreshActiveVms();
        return registry.scrape();
    }

    public String contentType() {
        return "text/plain; version=0.0.4; charset=utf-8";
    }

    synchronized void refreshActiveVms() {
        List<Vm> vms;
        try {
            vms = liveVms.get();
        } catch (RuntimeException e) {
            // Keep the last values: a scrape must not fail because the store hiccuped; /readyz reports the store.
            log.warn("active VM gauges not refreshed, store read failed: {}", e.getMessage());
            return;
        }
        Map<String, Map<VmStatus, Long>> counts = new HashMap<>();
        for (Vm vm : vms) {
            if (vm.status() == VmStatus.DELETED) continue;
            counts.computeIfAbsent(VmType.of(vm), t -> new EnumMap<>(VmStatus.class)).merge(vm.status(), 1L, Long::sum);
        }
        activeVms.forEach((type, byStatus) -> byStatus.forEach((status, gauge) ->
                gauge.set(counts.getOrDefault(type, Map.of()).getOrDefault(status, 0L))));
    }

    // ---- lifecycle (TransitionListener) ----

    /** Counts and times creates, suspends and resumes from the coordinator's committed outcomes. */
    public TransitionListener transitionListener() {
        return new TransitionListener() {
            @Override
            public void transitioned(dev.burrow.core.vm.Vm vm, VmStatus from, String op, String cause, Long durationMs,
                                     String reason) {
                onTransition(vm, op, durationMs);
            }

            @Override
            public void createRejected(dev.burrow.core.vm.VmSpec spec, String cause, String reason) {
                createCounter(VmType.of(spec.labels().get(VmType.LABEL)), FAILURE).increment();
            }
        };
    }

    private void onTransition(dev.burrow.core.vm.Vm vm, String op, Long durationMs) {
        if (durationMs == null) return; // an intent, or a write without a driver call: nothing finished
        String type = VmType.of(vm);
        switch (op) {
            case "create" -> {
                boolean ok = vm.status() == VmStatus.RUNNING;
                createCounter(type, ok ? SUCCESS : FAILURE).increment();
                // Only successful creates are timed: the latency a user waits for a sandbox, not how
                // long a failure took to be noticed (failures are counted above).
                if (ok) createTimer(type).record(durationMs, TimeUnit.MILLISECONDS);
            }
            case "suspend" -> {
                if (vm.status() == VmStatus.SUSPENDED) suspendTimer().record(durationMs, TimeUnit.MILLISECONDS);
            }
            case "resume" -> {
                if (vm.status() == VmStatus.RUNNING) resumeTimer().record(durationMs, TimeUnit.MILLISECONDS);
            }
            default -> { }
        }
    }

    private Counter createCounter(String type, String status) {
        // burrow_vm_create_total{type,status}
        return Counter.builder("burrow.vm.create").description("VM creates by outcome (image failures included)")
                .tags("type", type, "status", status).register(registry);
    }

    private Timer createTimer(String type) {
        // burrow_vm_create_duration_seconds{type}
        return Timer.builder("burrow.vm.create.duration")
                .description("Time from the creating intent to a running VM (image preparation excluded)")
                .tags("type", type).serviceLevelObjectives(VM_BUCKETS).register(registry);
    }

    private Timer suspendTimer() {
        // burrow_vm_suspend_duration_seconds
        return Timer.builder("burrow.vm.suspend.duration").description("Time to freeze a running VM")
                .serviceLevelObjectives(VM_BUCKETS).register(registry);
    }

    private Timer resumeTimer() {
        // burrow_vm_resume_duration_seconds
        return Timer.builder("burrow.vm.resume.duration").description("Time to thaw a suspended VM")
                .serviceLevelObjectives(VM_BUCKETS).register(registry);
    }

    // ---- background loops (LoopListener) ----

    /** A duration, an error counter and a last-success timestamp per loop, whatever its name. */
    public LoopListener loopListener() {
        return (loop, durationNanos, failure) -> {
            // burrow_loop_duration_seconds{loop}
            Timer.builder("burrow.loop.duration").description("Duration of one background loop pass")
                    .tags("loop", loop).serviceLevelObjectives(FAST_BUCKETS).register(registry)
                    .record(durationNanos, TimeUnit.NANOSECONDS);
            // burrow_loop_errors_total{loop}
            Counter errors = Counter.builder("burrow.loop.errors").description("Background loop passes that failed")
                    .tags("loop", loop).register(registry);
            if (failure != null) {
                errors.increment();
                return;
            }
            // burrow_loop_last_success_timestamp_seconds{loop}: "is the loop still running?" is
            // time() - this, which a duration histogram cannot answer when passes stop happening.
            loopLastSuccess.computeIfAbsent(loop, name -> {
                AtomicLong at = new AtomicLong();
                Gauge.builder("burrow.loop.last.success.timestamp", at, AtomicLong::get).baseUnit("seconds")
                        .description("Unix time of the loop's last successful pass").tags("loop", name)
                        .register(registry);
                return at;
            }).set(System.currentTimeMillis() / 1000);
        };
    }

    // ---- reconciler ----

    /**
     * {@code burrow_reconciler_actions_total{kind}}: one repair by the reconciler. {@code kind} comes from
     * code (the reconciler's action names, e.g. {@code orphan_destroyed}), never from users, so its set stays
     * small; the alert rules page on {@code kind=~"orphan.*"}.
     */
    public void reconcilerAction(String kind) {
        reconcilerActions(kind).increment();
    }

    private Counter reconcilerActions(String kind) {
        return Counter.builder("burrow.reconciler.actions").description("Repairs made by the reconciler, by kind")
                .tags("kind", kind).register(registry);
    }

    // ---- HTTP API ----

    /** {@code burrow_api_request_duration_seconds{method,route}}; {@code route} is the template, never a raw path. */
    public void apiRequest(String method, String route, long durationNanos) {
        Timer.builder("burrow.api.request.duration").description("HTTP API request duration by route template")
                .tags(Tags.of("method", method, "route", route)).serviceLevelObjectives(FAST_BUCKETS)
                .register(registry).record(durationNanos, TimeUnit.NANOSECONDS);
    }

    /** {@code burrow_api_errors_total{route,code}}: every 4xx/5xx answer, {@code code} being the HTTP status. */
    public void apiError(String route, int status) {
        Counter.builder("burrow.api.errors").description("HTTP API answers with a 4xx or 5xx status")
                .tags("route", route, "code", Integer.toString(status)).register(registry).increment();
    }

    // ---- driver ----

    /** {@code burrow_driver_op_duration_seconds{driver,op}} and {@code burrow_driver_op_errors_total{driver,op}}. */
    public void driverOp(String driver, String op, long durationNanos, boolean failed) {
        Timer.builder("burrow.driver.op.duration").description("Driver call duration")
                .tags("driver", driver, "op", op).serviceLevelObjectives(FAST_BUCKETS).register(registry)
                .record(durationNanos, TimeUnit.NANOSECONDS);
        Counter errors = Counter.builder("burrow.driver.op.errors").description("Driver calls that threw")
                .tags("driver", driver, "op", op).register(registry);
        if (failed) errors.increment();
    }

    @Override
    public void close() {
        gcMetrics.close();
        registry.close();
    }

    private static Duration[] seconds(double... values) {
        Duration[] d = new Duration[values.length];
        for (int i = 0; i < values.length; i++) d[i] = Duration.ofNanos((long) (values[i] * 1e9));
        return d;
    }
}
