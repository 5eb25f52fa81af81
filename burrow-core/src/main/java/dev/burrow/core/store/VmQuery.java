package dev.burrow.core.store;

import java.time.Instant;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * A listing of VMs, newest first ({@code created_at} descending, then id). {@code limit} 0 means no limit: a listing is
 * never cut short silently (the API's pages ask for one explicitly). Loops over every VM use {@link VmStore#everyVm}
 * instead, which pages by id.
 *
 * <p>Filters, all optional and combined with AND: deleted VMs only with {@code includeDeleted}; {@code labels} all
 * match; {@code node} (null: every node); {@code statuses} (empty: any); {@code createdBefore} (strictly older);
 * {@code cursor} (keyset: only VMs after that one in the listing order, so a page can start where the last one ended
 * however many VMs were created meanwhile). {@code offset} is applied after the filters.
 */
public record VmQuery(boolean includeDeleted, Map<String, String> labels, int limit, int offset, String node,
                      Set<VmStatus> statuses, Instant createdBefore, Cursor cursor) {
    public VmQuery {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        statuses = statuses == null || statuses.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(statuses));
        if (limit < 0) throw new IllegalArgumentException("limit must not be negative: " + limit);
        if (offset < 0) throw new IllegalArgumentException("offset must not be negative: " + offset);
    }

    public VmQuery(boolean includeDeleted, Map<String, String> labels, int limit, int offset) {
        this(includeDeleted, labels, limit, offset, null, Set.of(), null, null);
    }

    /** A position in the newest-first listing: the last VM of the page before. */
    public record Cursor(Instant createdAt, String id) {
        public Cursor {
            if (createdAt == null || id == null) throw new IllegalArgumentException("a cursor needs createdAt and id");
        }

        public static Cursor of(Vm vm) {
            return new Cursor(vm.createdAt(), vm.id());
        }

        /** Whether {@code vm} comes after this position in the listing order (older, or as old with a greater id). */
        public boolean precedes(Vm vm) {
            int c = vm.createdAt().compareTo(createdAt);
            return c < 0 || (c == 0 && vm.id().compareTo(id) > 0);
        }
    }

    /** Every VM not deleted, newest first. */
    public static VmQuery all() {
        return new VmQuery(false, Map.of(), 0, 0);
    }

    public VmQuery withNode(String node) {
        return new VmQuery(includeDeleted, labels, limit, offset, node, statuses, createdBefore, cursor);
    }

    public VmQuery withStatuses(Set<VmStatus> statuses) {
        return new VmQuery(includeDeleted, labels, limit, offset, node, statuses, createdBefore, cursor);
    }

    public VmQuery withCreatedBefore(Instant createdBefore) {
        return new VmQuery(includeDeleted, labels, limit, offset, node, statuses, createdBefore, cursor);
    }

    /** The page after {@code cursor} (null: from the start), at most {@code limit} VMs, no offset. */
    public VmQuery page(Cursor cursor, int limit) {
        return new VmQuery(includeDeleted, labels, limit, 0, node, statuses, createdBefore, cursor);
    }

    public boolean limited() {
        return limit > 0;
    }

    /** The filters as a predicate (not the order, limit or offset): what a store without SQL applies. */
    public boolean matches(Vm vm) {
        return (includeDeleted || vm.status() != VmStatus.DELETED)
                && (node == null || node.equals(vm.node()))
                && (statuses.isEmpty() || statuses.contains(vm.status()))
                && (createdBefore == null || vm.createdAt().isBefore(createdBefore))
                && (cursor == null || cursor.precedes(vm))
                && vm.spec().labels().entrySet().containsAll(labels.entrySet());
    }
}
