package dev.burrow.core.loop;

/** Told about every pass of every loop (metrics). {@code failure} is null when the pass succeeded. */
@FunctionalInterface
public interface LoopListener {
    LoopListener NONE = (loop, durationNanos, failure) -> { };

    void ran(String loop, long durationNanos, Throwable failure);
}
