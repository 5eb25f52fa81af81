package dev.burrow.core.store;

import java.util.Map;

/**
 * A listing of VMs, newest first. {@code limit} 0 means no limit: a listing is never cut short silently (the API's
 * pages ask for one explicitly). Loops over every VM use {@link VmStore#everyVm()} instead, which pages by id.
 */
public record VmQuery(boolean includeDeleted, Map<String, String> labels, int limit, int offset) {
    public VmQuery {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        if (limit < 0) throw new IllegalArgumentException("limit must not be negative: " + limit);
        if (offset < 0) throw new IllegalArgumentException("offset must not be negative: " + offset);
    }

    /** Every VM not deleted, newest first. */
    public static VmQuery all() {
        return new VmQuery(false, Map.of(), 0, 0);
    }

    public boolean limited() {
        return limit > 0;
    }
}
