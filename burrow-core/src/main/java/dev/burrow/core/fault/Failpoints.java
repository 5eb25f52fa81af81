package dev.burrow.core.fault;

import java.util.Set;

/**
 * Crash injection for the fault tests: when the environment variable {@code BURROW_FAILPOINT} names a
 * step (comma-separated for several), the process halts there at once, as a SIGKILL would, without
 * shutdown hooks. Names are {@code <op>.<step>}, e.g. {@code create.after-intent}. Costs one set lookup
 * when unset.
 */
public final class Failpoints {
    private static final Set<String> ACTIVE = parse(System.getenv("BURROW_FAILPOINT"));

    private Failpoints() { }

    static Set<String> parse(String value) {
        if (value == null || value.isBlank()) return Set.of();
        return Set.of(value.trim().split("\\s*,\\s*"));
    }

    public static void hit(String name) {
        if (!ACTIVE.isEmpty() && ACTIVE.contains(name)) {
            System.err.println("failpoint " + name + ": halting");
            Runtime.getRuntime().halt(137);
        }
    }
}
