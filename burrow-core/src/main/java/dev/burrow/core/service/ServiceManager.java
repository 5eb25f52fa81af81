package dev.burrow.core.service;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.ServiceNotify;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.internal.KeyedLocks;
import dev.burrow.core.lifecycle.BootHook;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.ServiceSpec;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Services inside VMs: definitions live in the VM's spec (the store), runtime state inside the VM (written by the
 * supervisor scripts of {@link ServiceScripts}). So a server restart loses nothing: the supervisors keep running in
 * the VMs, and this class reads their state again. Every command in a VM goes through the lifecycle coordinator.
 */
public final class ServiceManager implements BootHook {
    private static final Logger log = LoggerFactory.getLogger(ServiceManager.class);
    private static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(30);
    private static final String CAUSE = "api";
    /** A supervisor that vanished for longer than this (its state still says it runs) is reported failed. */
    private static final long LOST_AFTER_SECONDS = 5;

    private final LifecycleCoordinator lifecycle;
    /** The host end of sd_notify (readySignal, watchdogSec); null when the driver has none. */
    private final ServiceNotify notify;
    /**
     * Serializes service operations per VM (two starts must not launch two supervisors). Never taken by the boot
     * hook, which runs under the coordinator's VM lock: API operations take this lock first and the VM lock second.
     */
    private final KeyedLocks locks = new KeyedLocks();

    /** With the sd_notify facet the coordinator hands out (none when the driver has no such capability). */
    public ServiceManager(LifecycleCoordinator lifecycle) {
        this.lifecycle = lifecycle;
        this.notify = lifecycle.serviceNotify().orElse(null);
    }

    /** Runtime state of one service as its supervisor wrote it; {@code state} "-" when not launched in this boot. */
    public record Runtime(String state, String result, int exitCode, Instant since, boolean supervised) {
        static final Runtime NONE = new Runtime("-", "-", 0, null, false);
    }

    /** A defined service with its runtime state. */
    public record View(ServiceSpec spec, Runtime runtime, String statusText) {
        public View(ServiceSpec spec, Runtime runtime) {
            this(spec, runtime, null);
        }

        /** systemd's ActiveState. */
        public String activeState() {
            return switch (runtime.state()) {
                case "running", "exited" -> "active";
                case "waiting", "activating", "auto-restart" -> "activating";
                case "failed" -> "failed";
                default -> "inactive";
            };
        }

        /** systemd's SubState. */
        public String subState() {
            return switch (runtime.state()) {
                case "running", "exited", "failed", "auto-restart" -> runtime.state();
                case "waiting" -> "waiting";
                case "activating" -> "start";
                default -> "dead";
            };
        }
    }

    /** The result of one start/stop/restart item. */
    public record Outcome(String serviceId, boolean success, String message) { }

    public record LogLine(Instant timestamp, String message) { }

    // ---- boot ----

    @Override
    public void booted(Vm vm, Function<ExecRequest, ExecResult> exec) {
        List<ServiceSpec> services = vm.spec().services();
        if (services.isEmpty()) return;
        List<String> names = services.stream().map(ServiceSpec::name).toList();
        try {
            syncNotify(vm);
        } catch (BurrowException e) {
            // their supervisors find no socket and report the services failed (result resources), with the reason
            log.warn("vm_id={} op=services-notify {}", vm.id(), e.getMessage());
        }
        String script = ServiceScripts.install(services, names, true) + ServiceScripts.launch(closure(services,
                services.stream().filter(ServiceSpec::enable).map(ServiceSpec::name).toList()));
        ExecResult r = exec.apply(ExecRequest.of(script, SCRIPT_TIMEOUT));
        if (r.exitCode() != 0) {
            throw new BurrowException(ErrorCode.SERVICES_NOT_STARTED,
                    "VM " + vm.id() + ": the services could not be installed (exit " + r.exitCode() + "): "
                            + abbreviate(r.stderr() + r.stdout()));
        }
        log.info("vm_id={} op=services-boot {}", vm.id(), r.stdout().strip().replace('\n', ','));
    }

    // ---- reads ----

    public List<View> list(String vmId) {
        Vm vm = lifecycle.get(vmId);
        Map<String, Runtime> rt = runtimes(vm, true);
        return vm.spec().services().stream().map(s -> new View(s, rt.getOrDefault(s.name(), Runtime.NONE))).toList();
    }

    public View status(String vmId, String name) {
        Vm vm = lifecycle.get(vmId);
        ServiceSpec spec = find(vm, name);
        String text = notify != null && spec.notifies() ? notify.statusText(vm.id(), spec.name()) : null;
        return new View(spec, runtimes(vm, true).getOrDefault(spec.name(), Runtime.NONE), text);
    }

    /** The last {@code lines} log lines (after {@code since}, when given), oldest first. Works on a stopped VM too. */
    public List<LogLine> logs(String vmId, String name, int lines, Instant since) {
        Vm vm = lifecycle.get(vmId);
        ServiceSpec spec = find(vm, name);
        List<LogLine> all = new ArrayList<>();
        for (String file : List.of("log.1", "log")) {
            String text;
            try {
                FileContent c = lifecycle.readFile(vmId, ServiceScripts.dir(spec.name()) + "/" + file,
                        2 * ServiceScripts.LOG_ROTATE_BYTES + 1024 * 1024);
                if (!(c instanceof FileContent.RegularFile f)) continue;
                text = new String(f.bytes(), StandardCharsets.UTF_8);
            } catch (BurrowException e) {
                if (e.kind() == BurrowException.Kind.NOT_FOUND) continue;
                throw e;
            }
            for (String line : text.split("\n")) {
                if (line.isEmpty()) continue;
                int sp = line.indexOf(' ');
                Instant at = null;
                String msg = line;
                if (sp > 0) {
                    try {
                        at = Instant.ofEpochSecond(Long.parseLong(line.substring(0, sp)));
                        msg = line.substring(sp + 1);
                    } catch (NumberFormatException ignored) {
                        // a line the VM wrote into the log itself: kept, timed like the line before it
                    }
                }
                if (at == null) at = all.isEmpty() ? Instant.EPOCH : all.get(all.size() - 1).timestamp();
                all.add(new LogLine(at, msg));
            }
        }
        List<LogLine> kept = since == null ? all : all.stream().filter(l -> !l.timestamp().isBefore(since)).toList();
        return kept.subList(Math.max(0, kept.size() - lines), kept.size());
    }

    // ---- changes ----

    /** Adds a service at run time; it starts now when enabled and the VM is running (else at the next boot). */
    public Outcome add(String vmId, ServiceSpec spec) {
        try (var held = locks.acquire(vmId, Duration.ofMinutes(2), "add service")) {
            Vm vm = lifecycle.updateServices(vmId, current -> {
                if (current.stream().anyMatch(s -> s.name().equals(spec.name()))) {
                    throw BurrowException.of(ErrorCode.SERVICE_ALREADY_EXISTS, "VM " + vmId + " already has a service named '"
                            + spec.name() + "'");
                }
                List<ServiceSpec> next = new ArrayList<>(current);
                next.add(spec);
                validateGraph(next, List.of(spec));
                return next;
            }, "service-add", CAUSE);
            if (vm.status() != VmStatus.RUNNING) {
                return new Outcome(spec.name(), true, "service " + spec.name() + " added; it starts when the VM runs");
            }
            syncNotify(vm);
            String script = ServiceScripts.install(vm.spec().services(), List.of(spec.name()), false);
            List<String> launched = spec.enable() ? closure(vm.spec().services(), List.of(spec.name())) : List.of();
            if (spec.enable()) script += ServiceScripts.launch(launched);
            run(vmId, script, SCRIPT_TIMEOUT);
            if (spec.enable()) {
                String failed = awaitStarted(vm, launched);
                if (failed != null) return new Outcome(spec.name(), false, "service " + spec.name() + " added; " + failed);
            }
            return new Outcome(spec.name(), true, "service " + spec.name() + (spec.enable() ? " added and started" : " added"));
        }
    }

    /** Stops a service (and those that require it) and removes it. */
    public Outcome remove(String vmId, String name) {
        try (var held = locks.acquire(vmId, Duration.ofMinutes(2), "remove service")) {
            Vm vm = lifecycle.get(vmId);
            ServiceSpec spec = find(vm, name);
            if (isUp(vm)) {
                List<String> stopping = dependents(vm.spec().services(), List.of(spec.name()));
                run(vmId, ServiceScripts.stop(stopping, graces(vm), "stopped") + ServiceScripts.remove(List.of(spec.name())),
                        stopTimeout(vm, stopping));
            }
            Vm after = lifecycle.updateServices(vmId, current -> current.stream().filter(s -> !s.name().equals(spec.name())).toList(),
                    "service-remove", CAUSE);
            if (spec.notifies()) {
                try {
                    syncNotify(after);   // its socket closes, its directory goes
                } catch (BurrowException e) {
                    log.debug("vm_id={} op=notify-sync {}", vmId, e.getMessage());
                }
            }
            return new Outcome(spec.name(), true, "service " + spec.name() + " stopped and removed");
        }
    }

    public List<Outcome> start(String vmId, List<String> ids) {
        return each(vmId, ids, "start", (vm, spec) -> {
            List<String> names = closure(vm.spec().services(), List.of(spec.name()));
            syncNotify(vm);
            ExecResult r = run(vmId, ServiceScripts.install(vm.spec().services(), List.of(), false)
                    + ServiceScripts.launch(names), SCRIPT_TIMEOUT);
            String failed = awaitStarted(vm, names);
            if (failed != null) throw new BurrowException(ErrorCode.SERVICE_START_FAILED, failed);
            boolean already = r.stdout().contains("active " + spec.name() + "\n");
            return already ? "service " + spec.name() + " is already active" : "service " + spec.name() + " started";
        });
    }

    public List<Outcome> stop(String vmId, List<String> ids) {
        return each(vmId, ids, "stop", (vm, spec) -> {
            List<String> names = dependents(vm.spec().services(), List.of(spec.name()));
            run(vmId, ServiceScripts.stop(names, graces(vm), "stopped"), stopTimeout(vm, names));
            return "service " + spec.name() + " stopped" + (names.size() > 1
                    ? " (with " + String.join(", ", names.subList(1, names.size())) + ", which require it)" : "");
        });
    }

    public List<Outcome> restart(String vmId, List<String> ids) {
        return each(vmId, ids, "restart", (vm, spec) -> {
            syncNotify(vm);
            List<String> names = closure(vm.spec().services(), List.of(spec.name()));
            run(vmId, ServiceScripts.stop(List.of(spec.name()), graces(vm), "restarting")
                    + ServiceScripts.install(vm.spec().services(), List.of(), false)
                    + ServiceScripts.launch(names),
                    stopTimeout(vm, List.of(spec.name())).plus(SCRIPT_TIMEOUT));
            String failed = awaitStarted(vm, names);
            if (failed != null) throw new BurrowException(ErrorCode.SERVICE_START_FAILED, failed);
            return "service " + spec.name() + " restarted";
        });
    }

    // ---- supervision (the ServiceSupervisor loop) ----

    /**
     * One supervision pass over a running VM: removes oneshots that succeeded with {@code deleteAfterSuccess}, stops
     * services whose required service failed, and reports a service whose supervisor vanished as failed. Restart
     * policies need nothing from here: the supervisors in the VM apply them, also while the server is down.
     */
    public void supervise(Vm vm) {
        if (vm.spec().services().isEmpty() || vm.status() != VmStatus.RUNNING) return;
        Optional<KeyedLocks.Held> held = locks.tryAcquire(vm.id());
        if (held.isEmpty()) return;   // an API operation is busy with this VM's services; next pass
        try (var h = held.get()) {
            Map<String, Runtime> rt = parse(lifecycle.execInternal(vm.id(), ExecRequest.of(ServiceScripts.statusAll(),
                    SCRIPT_TIMEOUT)));
            long now = Instant.now().getEpochSecond();
            List<String> done = new ArrayList<>();
            List<String> dependencyStops = new ArrayList<>();
            StringBuilder lost = new StringBuilder();
            for (ServiceSpec s : vm.spec().services()) {
                Runtime r = rt.getOrDefault(s.name(), Runtime.NONE);
                if (s.deleteAfterSuccess() && s.mode() == ServiceSpec.Mode.ONESHOT && "success".equals(r.result())
                        && (r.state().equals("exited") || r.state().equals("dead"))) {
                    done.add(s.name());
                    continue;
                }
                boolean up = Set.of("running", "activating", "auto-restart", "waiting").contains(r.state());
                if (up && r.supervised() && s.requires().stream().anyMatch(d -> "failed".equals(
                        rt.getOrDefault(d, Runtime.NONE).state()))) {
                    dependencyStops.add(s.name());
                } else if (up && !r.supervised() && r.since() != null && now - r.since().getEpochSecond() > LOST_AFTER_SECONDS) {
                    String d = ServiceScripts.q(ServiceScripts.dir(s.name()));
                    lost.append("echo \"failed supervisor-lost ").append(r.exitCode()).append(" $(date +%s)\" > ").append(d)
                            .append("/status\necho \"$(date +%s) burrow: the supervisor of this service is gone "
                                    + "(killed inside the VM?); reported failed\" >> ").append(d).append("/log\n");
                }
            }
            String script = lost.toString();
            if (!dependencyStops.isEmpty()) script += ServiceScripts.stop(dependencyStops, graces(vm), "dependency");
            if (!done.isEmpty()) script += ServiceScripts.remove(done);
            if (!script.isEmpty()) {
                lifecycle.execInternal(vm.id(), ExecRequest.of(script, stopTimeout(vm, dependencyStops)));
            }
            if (!done.isEmpty()) {
                lifecycle.updateServices(vm.id(), current -> current.stream().filter(s -> !done.contains(s.name())).toList(),
                        "service-remove", "supervisor");
                log.info("vm_id={} op=services-delete-after-success services={}", vm.id(), done);
            }
            if (!dependencyStops.isEmpty()) {
                log.info("vm_id={} op=services-dependency-stop services={}", vm.id(), dependencyStops);
            }
        }
    }

    // ---- sd_notify ----

    /**
     * Listens on the sd_notify sockets of the VM's readySignal/watchdogSec services (and on no others). Called before
     * supervisors launch, and by the supervision loop, so a restarted server listens again within one pass.
     */
    public void syncNotify(Vm vm) {
        Set<String> names = new LinkedHashSet<>();
        for (ServiceSpec s : vm.spec().services()) if (s.notifies()) names.add(s.name());
        if (notify == null) {
            if (names.isEmpty()) return;
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "this server's driver has no sd_notify support; "
                    + "readySignal and watchdogSec cannot be honoured");
        }
        if (names.isEmpty() && !notify.available(vm.id())) return;
        try {
            notify.sync(vm.id(), names);
        } catch (IllegalStateException e) {
            throw new BurrowException(ErrorCode.SERVICE_NOTIFY_UNAVAILABLE, e.getMessage());
        }
    }

    /** Stops listening for VMs not in {@code vmIds} (deleted, stopped, or without notifying services). */
    public void retainNotify(Set<String> vmIds) {
        if (notify != null) notify.retain(vmIds);
    }

    /**
     * Waits, as {@code systemctl start} does for a Type=notify unit, until the readySignal services among
     * {@code names} are running (READY=1 arrived) or their run ended; returns why one failed, or null.
     */
    private String awaitStarted(Vm vm, List<String> names) {
        Map<String, ServiceSpec> byName = byName(vm.spec().services());
        List<String> waiting = new ArrayList<>();
        long limit = 0;
        for (String n : names) {
            ServiceSpec s = byName.get(n);
            if (s == null || !s.readySignal()) continue;
            waiting.add(n);
            limit += (s.timeoutSec() > 0 ? s.timeoutSec() : ServiceSpec.DEFAULT_START_TIMEOUT) + 2L * (s.timeoutSec() > 0
                    ? s.timeoutSec() : ServiceScripts.DEFAULT_STOP_GRACE);
        }
        if (waiting.isEmpty()) return null;
        long deadline = System.nanoTime() + Duration.ofSeconds(limit + 15).toNanos();
        while (true) {
            ExecResult r = lifecycle.execInternal(vm.id(), ExecRequest.of(ServiceScripts.startState(waiting), SCRIPT_TIMEOUT));
            if (r.exitCode() != 0) return "reading the service state failed: " + abbreviate(r.stderr());
            boolean pending = false;
            for (String line : r.stdout().split("\n")) {
                String[] f = line.trim().split(" ");
                if (f.length < 2) continue;
                String state = f[1];
                String ended = f.length >= 3 ? f[2] : "-";
                if (state.equals("running") || state.equals("exited")) {
                    waiting.remove(f[0]);   // started; what it does later is not this start's outcome
                    continue;
                }
                if (!ended.equals("-") || state.equals("failed") || state.equals("dead")) {
                    return "service " + f[0] + " did not start: " + (ended.equals("timeout")
                            ? "no READY=1 within its start timeout" : "result " + (ended.equals("-") ? state : ended))
                            + " (see its logs)";
                }
                pending = true;
            }
            if (!pending) return null;
            if (System.nanoTime() > deadline) return "service start still pending after " + (limit + 15) + " s";
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted while waiting for READY=1";
            }
        }
    }

    // ---- internals ----

    private interface Action {
        String apply(Vm vm, ServiceSpec spec);
    }

    private List<Outcome> each(String vmId, List<String> ids, String what, Action action) {
        try (var held = locks.acquire(vmId, Duration.ofMinutes(2), what + " services")) {
            List<Outcome> out = new ArrayList<>();
            for (String id : ids) {
                Vm vm = lifecycle.get(vmId);
                Optional<ServiceSpec> spec = vm.spec().service(normalize(id));
                if (spec.isEmpty()) {
                    out.add(new Outcome(id, false, "VM " + vmId + " has no service named '" + id + "'"));
                    continue;
                }
                try {
                    out.add(new Outcome(id, true, action.apply(vm, spec.get())));
                } catch (BurrowException e) {
                    if (e.kind() == BurrowException.Kind.NOT_FOUND && "VM_NOT_FOUND".equals(e.code())) throw e;
                    out.add(new Outcome(id, false, e.getMessage()));
                }
            }
            return out;
        }
    }

    /** Runs a service script in the VM as an API action (wakes a suspended VM, counts as activity). */
    private ExecResult run(String vmId, String script, Duration timeout) {
        ExecResult r = lifecycle.exec(vmId, ExecRequest.of(script, timeout), CAUSE);
        if (r.exitCode() != 0 || r.timedOut()) {
            throw new BurrowException(ErrorCode.SERVICE_COMMAND_FAILED,
                    "VM " + vmId + ": the service command failed (exit " + r.exitCode() + (r.timedOut() ? ", timed out" : "")
                            + "): " + abbreviate(r.stderr() + r.stdout()));
        }
        return r;
    }

    private Map<String, Runtime> runtimes(Vm vm, boolean wake) {
        if (vm.spec().services().isEmpty() || !isUp(vm)) return Map.of();
        ExecRequest req = ExecRequest.of(ServiceScripts.statusAll(), SCRIPT_TIMEOUT);
        return parse(wake ? lifecycle.exec(vm.id(), req, CAUSE) : lifecycle.execInternal(vm.id(), req));
    }

    /** A VM whose processes run or can be woken by an access; a stopped VM's services are inactive. */
    private static boolean isUp(Vm vm) {
        return vm.status() == VmStatus.RUNNING || vm.status() == VmStatus.SUSPENDED || vm.status() == VmStatus.HIBERNATED;
    }

    static Map<String, Runtime> parse(ExecResult r) {
        if (r.exitCode() != 0) {
            throw new BurrowException(ErrorCode.SERVICE_COMMAND_FAILED,
                    "reading service state failed (exit " + r.exitCode() + "): " + abbreviate(r.stderr()));
        }
        Map<String, Runtime> out = new HashMap<>();
        for (String line : r.stdout().split("\n")) {
            String[] f = line.trim().split(" ");
            if (f.length != 6) continue;
            try {
                long since = Long.parseLong(f[4]);
                out.put(f[0], new Runtime(f[1], f[2], Integer.parseInt(f[3]), since == 0 ? null : Instant.ofEpochSecond(since),
                        f[5].equals("1")));
            } catch (NumberFormatException e) {
                // a status file the VM garbled: the service shows as not launched
            }
        }
        return out;
    }

    private static ServiceSpec find(Vm vm, String name) {
        return vm.spec().service(normalize(name)).orElseThrow(() -> BurrowException.of(ErrorCode.SERVICE_NOT_FOUND,
                "VM " + vm.id() + " has no service named '" + name + "'"));
    }

    /** Service ids may be given as systemd unit names ({@code web.service}). */
    public static String normalize(String id) {
        return id != null && id.endsWith(".service") ? id.substring(0, id.length() - ".service".length()) : id;
    }

    /** {@code names} and, transitively, the services they require. */
    static List<String> closure(List<ServiceSpec> services, List<String> names) {
        Map<String, ServiceSpec> byName = byName(services);
        Set<String> out = new LinkedHashSet<>();
        ArrayDeque<String> todo = new ArrayDeque<>(names);
        while (!todo.isEmpty()) {
            String n = todo.poll();
            ServiceSpec s = byName.get(n);
            if (s == null || !out.add(n)) continue;
            todo.addAll(s.requires());
        }
        return List.copyOf(out);
    }

    /** {@code names} and, transitively, the services that require them (stopped together, as systemd does). */
    static List<String> dependents(List<ServiceSpec> services, List<String> names) {
        Set<String> out = new LinkedHashSet<>(names);
        boolean grew = true;
        while (grew) {
            grew = false;
            for (ServiceSpec s : services) {
                if (!out.contains(s.name()) && s.requires().stream().anyMatch(out::contains)) grew |= out.add(s.name());
            }
        }
        return List.copyOf(out);
    }

    /**
     * Refuses a set of services that could never start: a dependency on a service that does not exist, or ordering
     * in a cycle (each supervisor would wait for the other forever).
     */
    public static void validateGraph(List<ServiceSpec> services) {
        validateGraph(services, services);
    }

    /**
     * Same, checking the references of {@code checked} only: a service removed at run time may leave others that
     * require it, which then start without it (as systemd starts a unit whose required unit file is gone only
     * after complaining; here the supervisor finds no state and goes on).
     */
    static void validateGraph(List<ServiceSpec> services, List<ServiceSpec> checked) {
        Map<String, ServiceSpec> byName = byName(services);
        for (ServiceSpec s : checked) {
            for (String d : s.requires()) {
                if (!byName.containsKey(d)) throw bad("service '" + s.name() + "' requires '" + d + "', which is not defined");
            }
            for (String d : s.onFailure()) {
                if (!byName.containsKey(d)) throw bad("service '" + s.name() + "' has onFailure '" + d + "', which is not defined");
            }
        }
        // ordering edges: after (requires without after run concurrently, as in systemd)
        Map<String, Integer> color = new HashMap<>();
        for (ServiceSpec s : services) cycle(s.name(), byName, color, new ArrayDeque<>());
    }

    private static void cycle(String n, Map<String, ServiceSpec> byName, Map<String, Integer> color, ArrayDeque<String> path) {
        Integer c = color.get(n);
        if (c != null && c == 2) return;
        path.push(n);
        if (c != null && c == 1) {
            List<String> p = new ArrayList<>(path);
            java.util.Collections.reverse(p);
            throw bad("services are ordered in a cycle: " + String.join(" -> ", p.subList(p.indexOf(n), p.size())));
        }
        color.put(n, 1);
        ServiceSpec s = byName.get(n);
        if (s != null) for (String d : s.after()) if (byName.containsKey(d)) cycle(d, byName, color, path);
        color.put(n, 2);
        path.pop();
    }

    private static Map<String, ServiceSpec> byName(List<ServiceSpec> services) {
        Map<String, ServiceSpec> m = new LinkedHashMap<>();
        for (ServiceSpec s : services) m.put(s.name(), s);
        return m;
    }

    private static Map<String, Integer> graces(Vm vm) {
        Map<String, Integer> m = new HashMap<>();
        for (ServiceSpec s : vm.spec().services()) if (s.timeoutSec() > 0) m.put(s.name(), s.timeoutSec());
        return m;
    }

    private static Duration stopTimeout(Vm vm, List<String> names) {
        var g = graces(vm);
        int total = 0;
        for (String n : names) total += g.getOrDefault(n, ServiceScripts.DEFAULT_STOP_GRACE);
        return Duration.ofSeconds(total + 15L);
    }

    private static BurrowException bad(String message) {
        return BurrowException.of(ErrorCode.SERVICE_BAD_REQUEST, message);
    }

    private static String abbreviate(String s) {
        s = s.strip();
        return s.length() > 500 ? s.substring(0, 500) + "…" : s;
    }
}
