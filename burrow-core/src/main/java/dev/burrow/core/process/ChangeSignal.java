package dev.burrow.core.process;

import java.time.Duration;

/**
 * A version counter readers wait on: whoever changes something a reader may be waiting for (new output, an exit)
 * calls {@link #changed()}; a reader remembers the version it last saw and waits for a newer one.
 */
public final class ChangeSignal {
    private long version;

    public synchronized void changed() {
        version++;
        notifyAll();
    }

    public synchronized long version() {
        return version;
    }

    /** Waits until the version differs from {@code seen} or the timeout passes; returns the current version. */
    public synchronized long await(long seen, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (version == seen) {
            long left = deadline - System.nanoTime();
            if (left <= 0) break;
            long ms = Math.max(1, left / 1_000_000);
            wait(ms);
        }
        return version;
    }
}
