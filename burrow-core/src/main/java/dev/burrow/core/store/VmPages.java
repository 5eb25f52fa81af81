package dev.burrow.core.store;

import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import dev.burrow.core.vm.Vm;

/**
 * Every VM not deleted (on one node, or on all), read one page at a time by id (keyset: each page starts after the last id of the one
 * before), so a loop sees every VM whatever their number without holding them all. A VM created during the walk
 * may or may not be seen (its id is random); one deleted during it may still be seen once with its last status
 * — loops re-check under the VM's lock anyway. No VM is seen twice: ids only grow along the walk.
 */
public final class VmPages implements Iterable<Vm> {
    public static final int DEFAULT_PAGE_SIZE = 500;

    private final VmStore store;
    private final String node;
    private final int pageSize;

    public VmPages(VmStore store, int pageSize) {
        this(store, null, pageSize);
    }

    /** The VMs of {@code node}; null: of every node. */
    public VmPages(VmStore store, String node, int pageSize) {
        if (pageSize <= 0) throw new IllegalArgumentException("page size must be positive: " + pageSize);
        this.store = store;
        this.node = node;
        this.pageSize = pageSize;
    }

    @Override
    public Iterator<Vm> iterator() {
        return new Iterator<>() {
            private List<Vm> page = store.pageById(node, null, pageSize);
            private int next;

            @Override
            public boolean hasNext() {
                if (next < page.size()) return true;
                if (page.size() < pageSize) return false;
                page = store.pageById(node, page.get(page.size() - 1).id(), pageSize);
                next = 0;
                return !page.isEmpty();
            }

            @Override
            public Vm next() {
                if (!hasNext()) throw new NoSuchElementException();
                return page.get(next++);
            }
        };
    }
}
