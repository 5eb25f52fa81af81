package dev.burrow.core.loop;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs each {@link Loop} on its own thread until shutdown (after db-scheduler's RunUntilShutdown): a fixed
 * interval between passes, every exception caught and logged, exponential backoff after consecutive
 * failures (capped), {@link #wake} to run a loop early, and a {@link LoopListener} per pass.
 */
public final class LoopRunner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LoopRunner.class);
    private static final Duration MAX_BACKOFF = Duration.ofMinutes(5);

    private final Clock clock;
    private final List<LoopListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Map<String, Semaphore> wakers = new ConcurrentHashMap<>();
    private final List<Thread> threads = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean stopping;

    public LoopRunner(Clock clock) {
        this.clock = clock;
    }

    public void addListener(LoopListener listener) {
        listeners.add(listener);
    }

    public void start(Loop loop) {
        Semaphore waker = new Semaphore(0);
        if (wakers.putIfAbsent(loop.name(), waker) != null) throw new IllegalArgumentException("duplicate loop " + loop.name());
        Thread t = Thread.ofPlatform().daemon().name("loop-" + loop.name()).start(() -> runUntilShutdown(loop, waker));
        threads.add(t);
    }

    /** Runs the loop's next pass now instead of at the end of its interval. */
    public void wake(String name) {
        Semaphore s = wakers.get(name);
        if (s != null && s.availablePermits() == 0) s.release();
    }

    /** Runs one pass of a loop on the caller's thread, with the same error handling (tests, start-up). */
    public boolean runNow(Loop loop) {
        return pass(loop);
    }

    private void runUntilShutdown(Loop loop, Semaphore waker) {
        int failures = 0;
        while (!stopping) {
            failures = pass(loop) ? 0 : failures + 1;
            long waitMs = loop.interval().toMillis();
            if (failures > 0) {
                waitMs = Math.min(MAX_BACKOFF.toMillis(), waitMs * (1L << Math.min(failures, 10)));
            }
            try {
                waker.tryAcquire(waitMs, TimeUnit.MILLISECONDS);
                waker.drainPermits();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private boolean pass(Loop loop) {
        long t0 = System.nanoTime();
        Throwable failure = null;
        try {
            loop.runOnce(clock.instant());
        } catch (Throwable e) {
            failure = e;
            if (!stopping) log.error("loop={} pass failed: {}", loop.name(), e.toString(), e);
        }
        long elapsed = System.nanoTime() - t0;
        for (LoopListener l : listeners) {
            try {
                l.ran(loop.name(), elapsed, failure);
            } catch (RuntimeException e) {
                log.warn("loop={} listener failed: {}", loop.name(), e.toString());
            }
        }
        return failure == null;
    }

    @Override
    public void close() {
        stopping = true;
        for (Thread t : threads) t.interrupt();
        for (Thread t : threads) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
