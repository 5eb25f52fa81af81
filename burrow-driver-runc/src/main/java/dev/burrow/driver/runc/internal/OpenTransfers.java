package dev.burrow.driver.runc.internal;

import java.io.Closeable;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Files of VM roots held open by transfers in progress (a streamed read or write). A VM's are closed before its
 * root is released: an open descriptor would keep an overlay mount busy, and the transfer cannot finish anyway.
 */
public final class OpenTransfers {
    private final ConcurrentHashMap<String, Set<Closeable>> byVm = new ConcurrentHashMap<>();

    public void add(String vmId, Closeable open) {
        byVm.computeIfAbsent(vmId, k -> ConcurrentHashMap.newKeySet()).add(open);
    }

    public void remove(String vmId, Closeable open) {
        byVm.computeIfPresent(vmId, (k, set) -> {
            set.remove(open);
            return set.isEmpty() ? null : set;
        });
    }

    /** Closes every transfer of the VM; the threads streaming them fail with a closed channel. */
    public void closeAll(String vmId) {
        Set<Closeable> open = byVm.remove(vmId);
        if (open == null) return;
        for (Closeable c : open) {
            try {
                c.close();
            } catch (IOException ignored) {
                // closing is all that matters; the transfer reports its own failure
            }
        }
    }

    public int count(String vmId) {
        Set<Closeable> open = byVm.get(vmId);
        return open == null ? 0 : open.size();
    }
}
