package dev.burrow.core.process;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * The detached processes of every VM ("process handles"): started once, then listed, read, written, signalled and
 * waited on by any number of clients over time. Output lives in bounded per-stream buffers; an exited process is
 * kept (bounded in count and age per VM) so that a late reader still gets its output and exit code. When a VM stops,
 * hibernates, fails or is deleted its processes are ended and forgotten.
 */
public final class ProcessManager implements TransitionListener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ProcessManager.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * @param bufferBytes      kept per output stream; older bytes are dropped first
     * @param maxRunningPerVm  more concurrent processes in one VM are refused (409)
     * @param keepExitedPerVm  ended processes kept per VM for late readers (oldest forgotten first)
     * @param keepExitedFor    and for at most this long after they ended
     * @param drainGrace       how long output may still arrive after the process itself exited
     */
    public record Settings(int bufferBytes, int maxRunningPerVm, int keepExitedPerVm, Duration keepExitedFor,
                           Duration drainGrace) {
        public static Settings defaults() {
            return new Settings(1024 * 1024, 64, 32, Duration.ofMinutes(30), Duration.ofSeconds(2));
        }
    }

    /** Starts a process in a VM (the coordinator's spawn: wakes the VM, counts as activity). */
    @FunctionalInterface
    public interface Spawner {
        SandboxProcess spawn(String vmId, ProcessSpec spec);
    }

    /** Records activity on a VM (the coordinator's activity). */
    @FunctionalInterface
    public interface Activity {
        void touch(String vmId);
    }

    private final Spawner spawner;
    private final Activity activity;
    private final Clock clock;
    private final Settings settings;
    private final String label;
    private final Map<String, Map<String, ManagedProcess>> byVm = new ConcurrentHashMap<>();

    public ProcessManager(Spawner spawner, Activity activity, Clock clock, Settings settings) {
        this(spawner, activity, clock, settings, "p");
    }

    ProcessManager(Spawner spawner, Activity activity, Clock clock, Settings settings, String label) {
        this.spawner = spawner;
        this.activity = activity;
        this.clock = clock;
        this.settings = settings;
        this.label = label;
    }

    public Settings settings() {
        return settings;
    }

    /** Starts a process; {@code timeout} (nullable) kills it when it expires. */
    public ManagedProcess start(String vmId, ProcessSpec spec, Duration timeout) {
        return start(vmId, newId(), spec, timeout, null);
    }

    /** Starts a process under a caller-chosen id (terminal names), with an optional tap on its terminal output. */
    ManagedProcess start(String vmId, String id, ProcessSpec spec, Duration timeout, Consumer<byte[]> tap) {
        Map<String, ManagedProcess> procs = vmProcesses(vmId);
        synchronized (procs) {
            prune(vmId, procs);
            long running = procs.values().stream().filter(ManagedProcess::running).count();
            if (running >= settings.maxRunningPerVm()) {
                throw BurrowException.of(ErrorCode.TOO_MANY_PROCESSES, "VM " + vmId + " already has " + running
                        + " running processes (the limit is " + settings.maxRunningPerVm() + "); end some first");
            }
            if (procs.containsKey(id)) throw BurrowException.of(ErrorCode.ALREADY_EXISTS, "'" + id + "' already exists in VM " + vmId);
            // Spawning under the per-VM lock keeps the running count honest; the coordinator's own lock is per VM too.
            SandboxProcess sp = spawner.spawn(vmId, spec);
            ManagedProcess p = new ManagedProcess(id, vmId, spec, timeout, sp, settings.bufferBytes(), clock,
                    settings.drainGrace(), tap, () -> activity.touch(vmId), this::ended, label);
            procs.put(id, p);
            p.begin();
            return p;
        }
    }

    public List<ManagedProcess> list(String vmId) {
        Map<String, ManagedProcess> procs = byVm.get(vmId);
        if (procs == null) return List.of();
        synchronized (procs) {
            prune(vmId, procs);
            return List.copyOf(procs.values());
        }
    }

    public ManagedProcess get(String vmId, String id) {
        Map<String, ManagedProcess> procs = byVm.get(vmId);
        ManagedProcess p = null;
        if (procs != null) {
            synchronized (procs) {
                prune(vmId, procs);
                p = procs.get(id);
            }
        }
        if (p == null) throw BurrowException.of(notFoundCode(), notFoundWhat() + " '" + id + "' not found in VM " + vmId);
        return p;
    }

    /** Kills (if running) and forgets it. */
    public ManagedProcess remove(String vmId, String id) {
        ManagedProcess p = get(vmId, id);
        Map<String, ManagedProcess> procs = byVm.get(vmId);
        if (procs != null) {
            synchronized (procs) {
                procs.remove(id, p);
            }
        }
        p.kill();
        return p;
    }

    /** Ends every process of a VM and forgets them; returns when they are gone (bounded). */
    public void endAll(String vmId) {
        Map<String, ManagedProcess> procs = byVm.remove(vmId);
        if (procs == null) return;
        List<ManagedProcess> all;
        synchronized (procs) {
            all = new ArrayList<>(procs.values());
            procs.clear();
        }
        for (ManagedProcess p : all) p.killAndAwait(Duration.ofSeconds(5));
        if (!all.isEmpty()) log.info("ended {} {} of vm_id={}", all.size(), notFoundWhat() + "(s)", vmId);
    }

    /** How many processes (running or kept) the server holds, over all VMs. */
    public int size() {
        return byVm.values().stream().mapToInt(Map::size).sum();
    }

    /** True while any thread of a process of this VM (pump, watcher) is alive; for leak tests. */
    public boolean anyThreadsAlive() {
        return byVm.values().stream().flatMap(m -> m.values().stream()).anyMatch(ManagedProcess::threadsAlive);
    }

    /** A VM that stopped, hibernated, failed or was deleted has no processes left: forget its handles. */
    @Override
    public void transitioned(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason) {
        VmStatus to = vm.status();
        if (to == VmStatus.STOPPED || to == VmStatus.DELETED || to == VmStatus.HIBERNATED || to == VmStatus.FAILED
                || to == VmStatus.DELETING || to == VmStatus.STOPPING || to == VmStatus.HIBERNATING) {
            if (!byVm.containsKey(vm.id())) return;
            // Off the coordinator's thread: listeners must be fast, and killing waits for runc.
            Thread.ofVirtual().name("burrow-proc-end-" + vm.id()).start(() -> endAll(vm.id()));
        }
    }

    /** Server shutdown: processes are sessions of this server, so they end with it. */
    @Override
    public void close() {
        for (String vmId : List.copyOf(byVm.keySet())) endAll(vmId);
    }

    private Map<String, ManagedProcess> vmProcesses(String vmId) {
        return byVm.computeIfAbsent(vmId, k -> new LinkedHashMap<>());
    }

    private void ended(ManagedProcess p) {
        Map<String, ManagedProcess> procs = byVm.get(p.vmId());
        if (procs == null) return;
        synchronized (procs) {
            prune(p.vmId(), procs);
        }
    }

    /** Forgets ended processes beyond the count and age limits, oldest first. Caller holds the map's lock. */
    private void prune(String vmId, Map<String, ManagedProcess> procs) {
        Instant cutoff = clock.instant().minus(settings.keepExitedFor());
        procs.values().removeIf(p -> !p.running() && p.endedAt() != null && p.endedAt().isBefore(cutoff));
        List<ManagedProcess> ended = procs.values().stream().filter(p -> !p.running() && p.endedAt() != null)
                .sorted(Comparator.comparing(ManagedProcess::endedAt)).toList();
        int excess = ended.size() - settings.keepExitedPerVm();
        for (int i = 0; i < excess; i++) procs.remove(ended.get(i).id());
    }

    private ErrorCode notFoundCode() {
        return label.equals("t") ? ErrorCode.TERMINAL_NOT_FOUND : ErrorCode.PROCESS_NOT_FOUND;
    }

    private String notFoundWhat() {
        return label.equals("t") ? "terminal" : "process";
    }

    static String newId() {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder("p");
        for (int i = 0; i < 15; i++) sb.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        return sb.toString();
    }
}
