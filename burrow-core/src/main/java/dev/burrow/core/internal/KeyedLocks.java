package dev.burrow.core.internal;

import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * One fair lock per key, created on demand and dropped when nobody holds or waits for it, so the map
 * does not grow with every VM ever seen.
 */
public final class KeyedLocks {
    private final ConcurrentHashMap<String, Entry> locks = new ConcurrentHashMap<>();

    private static final class Entry {
        final ReentrantLock lock = new ReentrantLock(true);
        int users;
    }

    /** A held lock; closing releases it. */
    public interface Held extends AutoCloseable {
        @Override
        void close();
    }

    public Held acquire(String key, Duration wait, String what) {
        Entry e = locks.compute(key, (k, v) -> {
            Entry entry = v == null ? new Entry() : v;
            entry.users++;
            return entry;
        });
        boolean ok = false;
        try {
            ok = e.lock.tryLock(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
        if (!ok) {
            release(key, e, false);
            throw new BurrowException(ErrorCode.VM_OPERATION_DENIED_DURING_TRANSACTION,
                    "another operation on VM " + key + " is still running; " + what + " gave up after "
                            + wait.toSeconds() + " s");
        }
        return () -> release(key, e, true);
    }

    /** The lock if nobody holds it right now; empty otherwise (an operation is in flight). */
    public java.util.Optional<Held> tryAcquire(String key) {
        Entry e = locks.compute(key, (k, v) -> {
            Entry entry = v == null ? new Entry() : v;
            entry.users++;
            return entry;
        });
        if (!e.lock.tryLock()) {
            release(key, e, false);
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(() -> release(key, e, true));
    }

    private void release(String key, Entry e, boolean unlock) {
        if (unlock) e.lock.unlock();
        locks.compute(key, (k, v) -> {
            if (v == null) return null;
            v.users--;
            return v.users == 0 ? null : v;
        });
    }

    public int size() {
        return locks.size();
    }
}
