package dev.burrow.core.store;

import java.util.Map;

public record VmQuery(boolean includeDeleted, Map<String, String> labels, int limit) {
    public VmQuery {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        if (limit <= 0) limit = 1000;
    }

    public static VmQuery all() {
        return new VmQuery(false, Map.of(), 0);
    }
}
