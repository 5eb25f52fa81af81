package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;

/**
 * Keeps the disk the VMs use under a quota by deleting sticky VMs that are not running: lowest
 * persistence priority first, then least recently used. Persistent VMs are never evicted, and a running
 * VM is never taken from under its user.
 */
public final class StorageEvictor implements Loop {
    private static final Logger log = LoggerFactory.getLogger(StorageEvictor.class);

    private final VmStore store;
    private final SandboxDriver driver;
    private final LifecycleCoordinator lifecycle;
    private final Duration interval;
    private final long quotaBytes;

    public StorageEvictor(VmStore store, SandboxDriver driver, LifecycleCoordinator lifecycle, Duration interval,
                          long quotaBytes) {
        this.store = store;
        this.driver = driver;
        this.lifecycle = lifecycle;
        this.interval = interval;
        this.quotaBytes = quotaBytes;
    }

    @Override
    public String name() {
        return "storage-evictor";
    }

    @Override
    public Duration interval() {
        return interval;
    }

    @Override
    public void runOnce(Instant now) {
        if (quotaBytes <= 0) return;
        Map<String, Long> usage = new HashMap<>();
        long total = 0;
        List<Vm> vms = store.list(VmQuery.all());
        for (Vm vm : vms) {
            long bytes = driver.diskUsageBytes(vm.id());
            if (bytes > 0) {
                usage.put(vm.id(), bytes);
                total += bytes;
            }
        }
        if (total <= quotaBytes) return;
        List<Vm> candidates = new ArrayList<>(vms.stream()
                .filter(vm -> vm.spec().persistence().type() == Persistence.Type.STICKY)
                .filter(vm -> switch (vm.status()) {
                    case STOPPED, SUSPENDED, HIBERNATED, FAILED -> true;
                    default -> false;
                })
                .toList());
        candidates.sort(Comparator.<Vm>comparingInt(vm -> vm.spec().persistence().priority())
                .thenComparing(Vm::lastActivityAt));
        for (Vm vm : candidates) {
            if (total <= quotaBytes) break;
            try {
                lifecycle.delete(vm.id(), "eviction");
                long freed = usage.getOrDefault(vm.id(), 0L);
                total -= freed;
                log.warn("vm_id={} op=evict priority={} freed_bytes={} storage over quota ({} > {} bytes)", vm.id(),
                        vm.spec().persistence().priority(), freed, total + freed, quotaBytes);
            } catch (RuntimeException e) {
                log.warn("vm_id={} op=evict failed: {}", vm.id(), e.getMessage());
            }
        }
    }

}
