package dev.burrow.server;

import java.util.ArrayDeque;
import java.util.Deque;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything the server opened, closed in reverse order by one call: a failed start closes what was opened before
 * the failure (no btrfs mount, node network or database left open), and a stop closes everything — the same code
 * both times, so a new part of the server cannot be opened without being closed. A part that fails to close is
 * logged and the rest still close.
 */
final class OpenedResources implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OpenedResources.class);

    private record Entry(String name, AutoCloseable closer) { }

    private final Deque<Entry> stack = new ArrayDeque<>();

    /** Records {@code closer} (named for the log) to run at {@link #close}, before everything opened earlier. */
    synchronized void opened(String name, AutoCloseable closer) {
        stack.push(new Entry(name, closer));
    }

    /** Records {@code part} itself and returns it: {@code this.db = resources.open("database", Database.open(…))}. */
    <T extends AutoCloseable> T open(String name, T part) {
        opened(name, part);
        return part;
    }

    /** Closes everything, last opened first. A second call does nothing. */
    @Override
    public void close() {
        drain((name, failure) -> log.warn("closing {} failed: {}", name, failure.toString()));
    }

    /** Closes everything after a failed start; close failures are added to {@code cause}, which the caller rethrows. */
    void closeAfter(RuntimeException cause) {
        drain((name, failure) -> cause.addSuppressed(failure));
    }

    private void drain(java.util.function.BiConsumer<String, Throwable> onFailure) {
        while (true) {
            Entry e;
            synchronized (this) {
                e = stack.poll();
            }
            if (e == null) return;
            try {
                e.closer().close();
            } catch (Exception | LinkageError failure) {
                onFailure.accept(e.name(), failure);
            }
        }
    }
}
