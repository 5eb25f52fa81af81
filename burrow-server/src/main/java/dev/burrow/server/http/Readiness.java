package dev.burrow.server.http;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code /readyz}: can this server do its job right now? Each check is a small real operation (a store query,
 * a driver listing) run with a deadline, because a hung database must make the probe fail, not hang. A check
 * still stuck from an earlier probe is reported as stuck instead of being started again, so a load balancer
 * polling every second cannot pile up blocked threads.
 */
public final class Readiness {
    /** One named probe; it is healthy when it returns and unhealthy when it throws. */
    public record Check(String name, Runnable probe) { }

    /** {@code failures} maps a check's name to what went wrong; empty when ready. */
    public record Result(boolean ready, Map<String, String> checks, Map<String, String> failures) { }

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(3);

    private final List<Check> checks = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Duration timeout;
    private final Map<String, CompletableFuture<Void>> inFlight = new ConcurrentHashMap<>();

    public Readiness(List<Check> checks, Duration timeout) {
        this.checks.addAll(checks);
        this.timeout = timeout;
    }

    /** Adds a check (a subsystem wired later, such as the SSH gateway, reports here too). */
    public void add(Check check) {
        checks.add(check);
    }

    public Result check() {
        Map<String, CompletableFuture<Void>> started = new LinkedHashMap<>();
        Map<String, String> failures = new LinkedHashMap<>();
        for (Check c : checks) {
            CompletableFuture<Void> running = inFlight.get(c.name());
            if (running != null && !running.isDone()) {
                failures.put(c.name(), "still running a probe started earlier (more than " + timeout.toMillis() + " ms)");
                continue;
            }
            CompletableFuture<Void> f = new CompletableFuture<>();
            Thread.ofVirtual().name("readyz-" + c.name()).start(() -> {
                try {
                    c.probe().run();
                    f.complete(null);
                } catch (Throwable e) {
                    f.completeExceptionally(e);
                }
            });
            inFlight.put(c.name(), f);
            started.put(c.name(), f);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        for (var e : started.entrySet()) {
            try {
                e.getValue().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException ex) {
                failures.put(e.getKey(), "no answer within " + timeout.toMillis() + " ms");
            } catch (ExecutionException ex) {
                Throwable cause = ex.getCause();
                failures.put(e.getKey(), cause.getMessage() == null ? cause.toString() : cause.getMessage());
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                failures.put(e.getKey(), "interrupted");
            }
        }
        Map<String, String> status = new LinkedHashMap<>();
        for (Check c : checks) status.put(c.name(), failures.containsKey(c.name()) ? "failed" : "ok");
        return new Result(failures.isEmpty(), status, failures);
    }
}
