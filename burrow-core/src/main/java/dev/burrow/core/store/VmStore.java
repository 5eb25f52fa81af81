package dev.burrow.core.store;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmStatus;

/** Persistence of VMs and their events. Each write stores the VM row and its event atomically. */
public interface VmStore {

    /** A create request's Idempotency-Key, the hash of its body, and the VM it created. */
    record IdempotencyKey(String key, String requestHash, String vmId) { }

    /** Inserts a new VM with its first event. */
    default void insert(Vm vm, VmEvent event) {
        insert(vm, event, null);
    }

    /**
     * Inserts a new VM with its first event and, when {@code key} is not null, records the key in the same
     * transaction. Returns false, inserting nothing, when the key is already taken.
     */
    boolean insert(Vm vm, VmEvent event, IdempotencyKey key);

    Optional<IdempotencyKey> findIdempotencyKey(String key);

    /**
     * Replaces the VM row if its stored version still equals {@code vm.version()}, bumping the version, and
     * appends the event, in one transaction. Returns the stored VM, or empty if another writer won.
     */
    Optional<Vm> update(Vm vm, VmEvent event);

    Optional<Vm> find(String id);

    /**
     * VMs newest first matching {@link VmQuery#matches} (deleted ones only with {@code includeDeleted}; labels, node,
     * statuses, age, cursor); {@code offset} of them skipped, then at most {@code limit} (0: all).
     */
    List<Vm> list(VmQuery query);

    /**
     * A keyset page: VMs not deleted on {@code node} (null: on any node) whose id sorts after {@code afterId} (null:
     * from the first), ordered by id, at most {@code limit}.
     */
    List<Vm> pageById(String node, String afterId, int limit);

    /** {@link #pageById(String, String, int)} over every node. */
    default List<Vm> pageById(String afterId, int limit) {
        return pageById(null, afterId, limit);
    }

    /**
     * Every VM not deleted, on every node, read page by page ({@link VmPages}): what a walk over VMs wherever they run
     * uses (is a snapshot still a VM's source?).
     */
    default Iterable<Vm> everyVm() {
        return everyVm(null);
    }

    /**
     * Every VM not deleted on {@code node} (null: every node), page by page: what a loop acting on its own host's VMs
     * uses (reconciler, idle suspender, sweeper, evictor), so that with many hosts on one database it never acts on
     * another host's VM.
     */
    default Iterable<Vm> everyVm(String node) {
        return new VmPages(this, node, VmPages.DEFAULT_PAGE_SIZE);
    }

    /** How many VMs have each status (deleted ones counted only with {@code includeDeleted}); absent: none. */
    Map<VmStatus, Long> countByStatus(boolean includeDeleted);

    /** Records activity on a VM without a version bump (it changes no status). */
    void touch(String id, Instant at);

    /**
     * Records network activity on a VM (traffic through the preview proxy or an SSH port forward) without a version
     * bump; it also counts as activity ({@link #touch}). Never moves either time backwards.
     */
    void touchNetwork(String id, Instant at);

    List<VmEvent> events(String vmId, int limit);
}
