package dev.burrow.core.admission;

import java.util.HashMap;
import java.util.Map;

import dev.burrow.core.error.CapacityException;
import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/**
 * Admits VMs against the node's {@link HostCapacity}. A ledger of every VM that holds host resources, by id:
 * <ul>
 *   <li>every VM not deleted counts against {@code maxVms} — stopped and hibernated ones too, because they keep
 *       their disk, address lease, bundle and cgroup directories, and a start must never be refused for a count
 *       that did not change;</li>
 *   <li>only VMs that have (or are about to have) processes count their vCPUs and memory: running, suspended
 *       (memory kept, and any access resumes it) and every transitional status; stopped, hibernated and failed
 *       ones do not, so starting them is admitted again.</li>
 * </ul>
 * The coordinator reserves before it writes a VM's first row, so concurrent creates can never pass the limit
 * together (one lock, held only for the arithmetic); every status it writes reaches {@link #transitioned}, which
 * keeps the ledger in step (deleted: gone; stopped: resources released; anything else: resources held).
 */
public final class VmAdmission implements TransitionListener {

    private record Entry(int vcpus, int memMb, boolean active) { }

    private final HostCapacity capacity;
    private final Map<String, Entry> ledger = new HashMap<>();
    private long activeVcpus;
    private long activeMemMb;

    /** {@code capacity} null: no limits (what a coordinator without an admission, e.g. in unit tests, runs with). */
    public VmAdmission(HostCapacity capacity) {
        this.capacity = capacity;
    }

    public HostCapacity capacity() {
        return capacity;
    }

    /** Fills the ledger with the VMs the store holds (at server start, before any request). */
    public synchronized void load(Iterable<Vm> vms) {
        for (Vm vm : vms) record(vm.id(), vm.status(), vm.spec());
    }

    /**
     * Reserves a place and the resources of a VM about to be created, or refuses with 503 {@code CAPACITY}
     * saying which limit and how much is left. Undone by {@link #release} when the VM's row is never written.
     */
    public synchronized void reserve(String id, VmSpec spec) {
        if (capacity == null) return;
        if (ledger.size() >= capacity.maxVms()) {
            throw CapacityException.full("this node already holds its maximum of " + capacity.maxVms()
                    + " VMs (--max-vms; stopped VMs count, they keep their disk); delete VMs and retry");
        }
        checkResources(spec.vcpuCount(), spec.memSizeMb(), 0, 0, "create");
        put(id, new Entry(spec.vcpuCount(), spec.memSizeMb(), true));
    }

    /** Checks that {@code count} more VMs of this shape fit now (a fork asks before it snapshots); reserves nothing. */
    public synchronized void check(int count, VmSpec spec) {
        if (capacity == null) return;
        int left = capacity.maxVms() - ledger.size();
        if (count > left) {
            throw CapacityException.full("this node holds " + ledger.size() + " of its maximum " + capacity.maxVms()
                    + " VMs (--max-vms), so " + count + " more do not fit (" + Math.max(0, left) + " left)");
        }
        checkResources((long) spec.vcpuCount() * count, (long) spec.memSizeMb() * count, 0, 0, count + " VMs");
    }

    /** Forgets a reservation whose VM row was never written (the create failed or was a replay). */
    public synchronized void release(String id) {
        put(id, null);
    }

    /** Admits the vCPUs and memory of a VM that is about to get processes again (start of a stopped one). */
    public synchronized void admitStart(Vm vm) {
        if (capacity == null) return;
        Entry e = ledger.get(vm.id());
        if (e != null && e.active()) return;
        checkResources(vm.spec().vcpuCount(), vm.spec().memSizeMb(), 0, 0, "start");
        put(vm.id(), new Entry(vm.spec().vcpuCount(), vm.spec().memSizeMb(), true));
    }

    /** Admits new limits for a VM; only the growth of a VM with processes needs room. */
    public synchronized void admitResize(Vm vm, int vcpus, int memMb) {
        if (capacity == null) return;
        Entry e = ledger.get(vm.id());
        if (e == null || !e.active()) return;
        checkResources(vcpus, memMb, e.vcpus(), e.memMb(), "resize");
        put(vm.id(), new Entry(vcpus, memMb, true));
    }

    @Override
    public synchronized void transitioned(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason) {
        record(vm.id(), vm.status(), vm.spec());
    }

    /** VMs counted against {@code maxVms}, and vCPUs and MiB held by VMs with processes (for tests and metrics). */
    public synchronized Usage usage() {
        return new Usage(ledger.size(), activeVcpus, activeMemMb);
    }

    public record Usage(int vms, long vcpus, long memoryMb) { }

    private void record(String id, VmStatus status, VmSpec spec) {
        put(id, switch (status) {
            case DELETED -> null;
            case STOPPED, HIBERNATED, FAILED -> new Entry(spec.vcpuCount(), spec.memSizeMb(), false);
            default -> new Entry(spec.vcpuCount(), spec.memSizeMb(), true);
        });
    }

    private void put(String id, Entry next) {
        Entry prev = next == null ? ledger.remove(id) : ledger.put(id, next);
        if (prev != null && prev.active()) {
            activeVcpus -= prev.vcpus();
            activeMemMb -= prev.memMb();
        }
        if (next != null && next.active()) {
            activeVcpus += next.vcpus();
            activeMemMb += next.memMb();
        }
    }

    private void checkResources(long vcpus, long memMb, long freedVcpus, long freedMemMb, String what) {
        long memLeft = capacity.memoryMb() - (activeMemMb - freedMemMb);
        if (memMb > memLeft) {
            throw CapacityException.full("not enough memory on this node to " + what + ": " + memMb + " MiB asked, "
                    + Math.max(0, memLeft) + " MiB of " + capacity.memoryMb() + " MiB left (" + capacity.hostMemoryMb()
                    + " MiB × --memory-overcommit " + capacity.memoryOvercommit()
                    + "); stop or delete VMs, ask for a smaller memSizeMb, or raise --memory-overcommit");
        }
        long cpuLeft = capacity.vcpus() - (activeVcpus - freedVcpus);
        if (vcpus > cpuLeft) {
            throw CapacityException.full("not enough CPU on this node to " + what + ": " + vcpus + " vCPUs asked, "
                    + Math.max(0, cpuLeft) + " of " + capacity.vcpus() + " left (" + capacity.hostCpus()
                    + " CPUs × --cpu-overcommit " + capacity.cpuOvercommit()
                    + "); stop or delete VMs, ask for a smaller vcpuCount, or raise --cpu-overcommit");
        }
    }
}
