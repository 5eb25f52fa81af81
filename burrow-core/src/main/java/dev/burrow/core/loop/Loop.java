package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;

/**
 * One background job (reconciler, idle suspender, …): a small class with a name, an interval and one
 * pass. The {@link LoopRunner} schedules it, catches what it throws, backs off and records metrics.
 */
public interface Loop {
    String name();

    Duration interval();

    /** One pass; {@code now} comes from the runner's injected clock. */
    void runOnce(Instant now) throws Exception;
}
