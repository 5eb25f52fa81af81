package dev.burrow.core.loop;

import java.time.Duration;

/** A {@link Loop} whose name and interval are fixed when it is made; subclasses write only their pass. */
public abstract class FixedIntervalLoop implements Loop {
    private final String name;
    private final Duration interval;

    protected FixedIntervalLoop(String name, Duration interval) {
        this.name = name;
        this.interval = interval;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final Duration interval() {
        return interval;
    }
}
