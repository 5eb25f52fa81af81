package dev.burrow.core.image;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.CachedImage;
import dev.burrow.core.driver.ImageFacet;
import dev.burrow.core.driver.ImageInfo;
import dev.burrow.core.driver.PullProgress;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * The images a node has and is fetching. Pulls of the same reference coalesce: the first {@link #acquire} starts
 * one fetch in the background and every later one joins it, so N creates of a new image wait for one pull and see
 * the same progress. A {@link Lease} marks an image as needed by an operation under way (a create between its pull
 * and its disk being made), which {@link #delete} and the garbage collector respect.
 */
public final class ImageCache implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ImageCache.class);

    /** One fetch of one reference, shared by everyone who asked for it while it ran. */
    public static final class Pull {
        private final String image;
        private final Instant startedAt;
        private final CompletableFuture<ImageInfo> result = new CompletableFuture<>();
        private final AtomicReference<PullProgress> progress = new AtomicReference<>(PullProgress.of("queued"));
        private int holders;
        private volatile Instant finishedAt;
        private boolean listed;

        Pull(String image, Instant startedAt) {
            this.image = image;
            this.startedAt = startedAt;
        }

        public String image() {
            return image;
        }

        public Instant startedAt() {
            return startedAt;
        }

        public PullProgress progress() {
            return progress.get();
        }

        /** Completes with the resolved image, or with the pull's failure. */
        public java.util.concurrent.CompletionStage<ImageInfo> completion() {
            return result.minimalCompletionStage();
        }

        public boolean done() {
            return result.isDone();
        }

        /** The resolved image, once the pull succeeded; empty while it runs or when it failed. */
        public Optional<ImageInfo> imageInfo() {
            return result.isDone() && !result.isCompletedExceptionally() ? Optional.of(result.join()) : Optional.empty();
        }

        /** Why the pull failed, once it did. */
        public Optional<String> error() {
            if (!result.isCompletedExceptionally()) return Optional.empty();
            try {
                result.join();
                return Optional.empty();
            } catch (CompletionException e) {
                // A failure of the host (unpacking, the image store) is logged with its detail; the client gets none
                // of its paths or command lines.
                return Optional.of(BurrowException.clientMessage(e.getCause() == null ? e : e.getCause()));
            }
        }
    }

    /** Keeps an image from being deleted while an operation needs it; close it when done. */
    public interface Lease extends AutoCloseable {
        Pull pull();

        /** Waits for the pull and returns what it resolved to; rethrows its failure as it was thrown. */
        ImageInfo await();

        @Override
        void close();
    }

    private final SandboxDriver driver;
    private final Clock clock;
    private final ExecutorService executor = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("image-pull-", 0).factory());
    private final Map<String, Pull> active = new HashMap<>();
    /** Finished pulls, kept a while so a client polling for one sees how it ended. */
    private final java.util.ArrayDeque<Pull> recent = new java.util.ArrayDeque<>();
    private static final int RECENT_MAX = 50;
    private static final java.time.Duration RECENT_FOR = java.time.Duration.ofMinutes(5);

    /**
     * Wraps a pull's task when it is handed to its thread, in the thread that starts it: the server passes its trace
     * context along this way, so a pull's driver span nests in the request that started it.
     */
    private volatile java.util.function.UnaryOperator<Runnable> taskContext = java.util.function.UnaryOperator.identity();

    public ImageCache(SandboxDriver driver, Clock clock) {
        this.driver = driver;
        this.clock = clock;
    }

    public void setTaskContext(java.util.function.UnaryOperator<Runnable> taskContext) {
        this.taskContext = taskContext;
    }

    /** Starts a pull of {@code image}, or joins the one under way, and holds the image until the lease is closed. */
    public Lease acquire(String image) {
        return acquire(image, true);
    }

    /**
     * Like {@link #acquire(String)}; with {@code listed} false (a create of an image already cached, where the "pull"
     * is a cache check) the finished pull is not kept among the recent ones {@link #pulls()} reports.
     */
    public Lease acquire(String image, boolean listed) {
        Pull pull;
        synchronized (this) {
            pull = active.get(image);
            // A failed pull is not joined: whoever asks again gets a fresh attempt.
            if (pull == null || pull.result.isCompletedExceptionally()) {
                pull = new Pull(image, clock.instant());
                active.put(image, pull);
                Pull started = pull;
                executor.execute(taskContext.apply(() -> run(started)));
            }
            pull.holders++;
            if (listed) pull.listed = true;
        }
        Pull held = pull;
        return new Lease() {
            private boolean closed;

            @Override
            public Pull pull() {
                return held;
            }

            @Override
            public ImageInfo await() {
                try {
                    return held.result.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new BurrowException(ErrorCode.IMAGE_PULL_INTERRUPTED,
                            "interrupted while waiting for image " + image);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    throw new IllegalStateException("pull of " + image + " failed: " + e.getCause(), e.getCause());
                }
            }

            @Override
            public void close() {
                synchronized (ImageCache.this) {
                    if (closed) return;
                    closed = true;
                    held.holders--;
                    forgetIfIdle(held);
                }
            }
        };
    }

    /** Starts (or joins) a pull nobody waits for: the image is fetched ahead of the creates that will use it. */
    public Pull pullAhead(String image) {
        Lease lease = acquire(image);
        lease.pull().result.whenComplete((r, e) -> lease.close());
        return lease.pull();
    }

    /** The pull of {@code image} under way (or just finished while still held), if any. */
    public synchronized Optional<Pull> pull(String image) {
        return Optional.ofNullable(active.get(image));
    }

    /** Pulls under way, then finished ones of the last minutes (how they ended: digest or error). */
    public synchronized List<Pull> pulls() {
        List<Pull> all = new ArrayList<>(active.values());
        Instant cutoff = clock.instant().minus(RECENT_FOR);
        recent.removeIf(p -> p.finishedAt != null && p.finishedAt.isBefore(cutoff));
        for (Pull p : recent) if (!all.contains(p)) all.add(p);
        return all;
    }

    /** Whether a pull is still fetching, so the digest it will end in is not known yet. */
    public synchronized boolean anyUnresolved() {
        return active.values().stream().anyMatch(p -> !p.result.isDone());
    }

    /** Digests an operation under way holds (pulled, and not yet turned into a VM disk). */
    public synchronized Set<String> heldDigests() {
        Set<String> held = new HashSet<>();
        for (Pull p : active.values()) p.imageInfo().ifPresent(i -> held.add(i.digest()));
        return held;
    }

    /** Refuses a malformed image reference (400) without looking anything up. */
    public void validate(String imageRef) {
        driver.images().ifPresent(f -> f.validateImageRef(imageRef));
    }

    /**
     * Whether a create of {@code imageRef} needs no fetch (from local state only). Always true for a driver without an
     * image cache: it takes references as they are.
     */
    public boolean cached(String imageRef) {
        return driver.images().map(f -> f.imageCached(imageRef)).orElse(true);
    }

    public List<CachedImage> list() {
        return driver.images().map(f -> new ArrayList<>(f.cachedImages())).orElseGet(ArrayList::new);
    }

    public Optional<CachedImage> find(String digest) {
        return list().stream().filter(i -> i.digest().equals(digest)).findFirst();
    }

    /**
     * Deletes a cached image. Refused (409) while a create holds it or a VM or snapshot still needs it; the
     * driver decides what "needs" means for its storage.
     */
    public void delete(String digest) {
        synchronized (this) {
            if (heldDigests().contains(digest)) {
                throw BurrowException.of(ErrorCode.IMAGE_IN_USE,
                        "image " + digest + " is being pulled or used by a create under way; retry when it finished");
            }
            // Under the monitor: no new lease can resolve to this digest from a finished entry meanwhile.
            // without an image cache nothing is cached, so there is nothing to delete
            driver.images().ifPresent(f -> f.deleteImage(digest));
        }
    }

    private void run(Pull pull) {
        ImageFacet.ProgressListener listener = new ImageFacet.ProgressListener() {
            @Override
            public void progress(String phase, double fraction) {
                pull.progress.updateAndGet(p -> p.withPhase(phase));
            }

            @Override
            public void pull(PullProgress p) {
                pull.progress.set(p);
            }
        };
        long t0 = System.nanoTime();
        try {
            Optional<ImageFacet> facet = driver.images();
            // a driver without an image cache takes the reference as it is
            ImageInfo info = facet.isPresent() ? facet.get().prepareImage(pull.image, listener)
                    : new ImageInfo(pull.image, pull.image, Map.of(), null, List.of());
            pull.progress.updateAndGet(p -> p.withPhase("ready"));
            log.info("image_ref={} digest={} op=pull duration_ms={}", pull.image, info.digest(),
                    (System.nanoTime() - t0) / 1_000_000);
            pull.finishedAt = clock.instant();
            pull.result.complete(info);
        } catch (Throwable e) {
            pull.progress.updateAndGet(p -> p.withPhase("failed"));
            log.warn("image_ref={} op=pull failed after {} ms: {}", pull.image, (System.nanoTime() - t0) / 1_000_000,
                    e.getMessage());
            pull.finishedAt = clock.instant();
            pull.result.completeExceptionally(e);
        } finally {
            synchronized (this) {
                forgetIfIdle(pull);
            }
        }
    }

    private void forgetIfIdle(Pull pull) {
        if (pull.holders <= 0 && pull.result.isDone() && active.get(pull.image) == pull) {
            active.remove(pull.image);
            if (pull.listed) recent.addFirst(pull);
            while (recent.size() > RECENT_MAX) recent.removeLast();
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
