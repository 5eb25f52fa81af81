package dev.burrow.core.vm;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Every status a VM can be in, and (in {@link #TRANSITIONS}) every move between them. The transition
 * table is data: the coordinator consults it, the store's CHECK constraint lists the same names, and a
 * drift test keeps the enum, the schema and the API mapping in agreement.
 *
 * <p>Statuses ending in -ING are intents: they are written before the driver is called, so a crash
 * between the two leaves a record of what was under way.
 */
public enum VmStatus {
    /** A create waiting for its image (fetch, unpack); no host resource of the VM exists yet. */
    PULLING(true),
    CREATING(true),
    STARTING(true),
    RUNNING(false),
    SUSPENDING(true),
    SUSPENDED(false),
    RESUMING(true),
    STOPPING(true),
    STOPPED(false),
    /** Processes torn down after a long suspension; disk kept. Resumes (cold) on access. */
    HIBERNATING(true),
    HIBERNATED(false),
    FAILED(false),
    DELETING(true),
    DELETED(false);

    private final boolean transitional;

    VmStatus(boolean transitional) {
        this.transitional = transitional;
    }

    public boolean transitional() {
        return transitional;
    }

    /** Lower-case name used in the database and in Burrow's own API fields. */
    public String dbName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static VmStatus fromDb(String name) {
        return valueOf(name.toUpperCase(Locale.ROOT));
    }

    public boolean canMoveTo(VmStatus next) {
        return TRANSITIONS.get(this).contains(next);
    }

    /** Allowed moves. A failed driver call settles on what the host reports, hence the wide outcome sets. */
    public static final Map<VmStatus, Set<VmStatus>> TRANSITIONS = Map.ofEntries(
            // A crash mid-create is rolled back (destroy, then deleted), never completed: the client never
            // got its answer.
            Map.entry(CREATING, EnumSet.of(RUNNING, FAILED, DELETING, DELETED)),
            // A pull that fails (or is interrupted) leaves nothing of the VM on the host: straight to deleted.
            Map.entry(PULLING, EnumSet.of(CREATING, FAILED, DELETING, DELETED)),
            // Other intents settle on whatever the host holds after a failure or a crash.
            Map.entry(STARTING, EnumSet.of(RUNNING, SUSPENDED, STOPPED, FAILED, DELETING)),
            Map.entry(RESUMING, EnumSet.of(RUNNING, SUSPENDED, STOPPED, FAILED, DELETING)),
            Map.entry(SUSPENDING, EnumSet.of(SUSPENDED, RUNNING, STOPPED, FAILED, DELETING)),
            Map.entry(STOPPING, EnumSet.of(STOPPED, RUNNING, SUSPENDED, FAILED, DELETING)),
            Map.entry(HIBERNATING, EnumSet.of(HIBERNATED, SUSPENDED, RUNNING, STOPPED, FAILED, DELETING)),
            // Stable statuses: the requested moves, plus what the reconciler observes on the host (a VM
            // that crashed, or was paused or resumed behind Burrow's back).
            Map.entry(RUNNING, EnumSet.of(SUSPENDING, STOPPING, DELETING, SUSPENDED, STOPPED, FAILED)),
            Map.entry(SUSPENDED, EnumSet.of(RESUMING, STOPPING, HIBERNATING, DELETING, RUNNING, STOPPED, FAILED)),
            Map.entry(STOPPED, EnumSet.of(STARTING, DELETING, RUNNING, SUSPENDED, FAILED)),
            Map.entry(HIBERNATED, EnumSet.of(STARTING, DELETING, RUNNING, SUSPENDED, FAILED)),
            Map.entry(FAILED, EnumSet.of(DELETING, STARTING)),
            Map.entry(DELETING, EnumSet.of(DELETED, FAILED)),
            Map.entry(DELETED, EnumSet.noneOf(VmStatus.class)));

    static {
        if (TRANSITIONS.size() != values().length) {
            throw new ExceptionInInitializerError("transition table misses a status: "
                    + Arrays.stream(values()).filter(s -> !TRANSITIONS.containsKey(s)).toList());
        }
    }
}
