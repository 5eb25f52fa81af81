package dev.burrow.core.admission;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.burrow.core.error.CapacityException;

/**
 * Caps the processes Burrow runs in VMs at once, per VM and per node: every exec-await, process handle, terminal
 * and SSH channel is a {@code runc exec} whose host side (~10 MiB each, outside the VM's memory limit) the VM's
 * cgroup does not bound. Over a cap the request is refused at once with 429 {@code CAPACITY} and a Retry-After —
 * never queued, since a queue of blocked execs holds HTTP threads and hides the overload from the client.
 */
public final class ExecSlots {
    private final int perVm;
    private final int perNode;
    private final AtomicInteger node = new AtomicInteger();
    private final ConcurrentHashMap<String, AtomicInteger> vms = new ConcurrentHashMap<>();

    /** Caps of 0 or less mean none. */
    public ExecSlots(int perVm, int perNode) {
        this.perVm = perVm <= 0 ? Integer.MAX_VALUE : perVm;
        this.perNode = perNode <= 0 ? Integer.MAX_VALUE : perNode;
    }

    public static ExecSlots unlimited() {
        return new ExecSlots(0, 0);
    }

    /** A held slot; closing it (idempotent) gives it back. */
    public final class Slot implements AutoCloseable {
        private final String vmId;
        private final AtomicBoolean open = new AtomicBoolean(true);

        private Slot(String vmId) {
            this.vmId = vmId;
        }

        @Override
        public void close() {
            if (!open.compareAndSet(true, false)) return;
            node.decrementAndGet();
            vms.computeIfPresent(vmId, (k, n) -> n.decrementAndGet() <= 0 ? null : n);
        }
    }

    /**
     * Takes a slot for a process in {@code vmId}, or refuses with 429 {@code CAPACITY} naming the cap that was hit.
     */
    public Slot acquire(String vmId) {
        if (node.incrementAndGet() > perNode) {
            node.decrementAndGet();
            throw CapacityException.busy("this node already runs its maximum of " + perNode
                    + " concurrent execs and processes (--max-execs); retry when some have ended");
        }
        boolean[] over = {false};
        // compute holds the map's bin lock, so the per-VM check and increment are one step
        vms.compute(vmId, (k, n) -> {
            AtomicInteger c = n == null ? new AtomicInteger() : n;
            if (c.get() >= perVm) over[0] = true;
            else c.incrementAndGet();
            return c.get() == 0 ? null : c;
        });
        if (over[0]) {
            node.decrementAndGet();
            throw CapacityException.busy("VM " + vmId + " already runs its maximum of " + perVm
                    + " concurrent execs and processes (--max-execs-per-vm); retry when some have ended");
        }
        return new Slot(vmId);
    }

    /** Slots held now in one VM and on the whole node (for tests and metrics). */
    public int inUse(String vmId) {
        AtomicInteger n = vms.get(vmId);
        return n == null ? 0 : n.get();
    }

    public int inUse() {
        return node.get();
    }
}
