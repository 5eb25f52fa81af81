package dev.burrow.server.metrics;

import java.util.Set;

import dev.burrow.core.vm.Vm;

/**
 * The {@code type} of a VM for metrics and logs: the create request's label {@code type}, when it is one of
 * {@code agent}, {@code workspace} or {@code run}. A VM without the label is {@code default}; any other value
 * is {@code other}. Labels are free user input, and a metric label taking user values would let one client
 * create unbounded time series, hence the closed set.
 */
public final class VmType {
    public static final String LABEL = "type";
    public static final String DEFAULT = "default";
    public static final String OTHER = "other";
    public static final Set<String> KNOWN = Set.of("agent", "workspace", "run");
    /** Every value {@link #of} can return (the gauges export a row for each, so dashboards see zeros). */
    public static final Set<String> ALL = Set.of("agent", "workspace", "run", DEFAULT, OTHER);

    private VmType() { }

    public static String of(Vm vm) {
        return of(vm.spec() == null ? null : vm.spec().labels().get(LABEL));
    }

    public static String of(String label) {
        if (label == null || label.isEmpty()) return DEFAULT;
        return KNOWN.contains(label) ? label : OTHER;
    }
}
