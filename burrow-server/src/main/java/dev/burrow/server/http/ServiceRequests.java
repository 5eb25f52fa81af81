package dev.burrow.server.http;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import dev.burrow.api.SystemdApiTypes;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.service.ServiceManager;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.core.vm.ServiceSpec;

/**
 * Validates Freestyle service definitions into {@link ServiceSpec}s, for the create field and the add route alike.
 * Every refusal names the field; what Burrow cannot honour without systemd (patches to the image's own units) is
 * refused with UNSUPPORTED_FIELD instead of being ignored. readySignal and watchdogSec are honoured through Burrow's
 * own sd_notify sockets ({@code ServiceNotify}).
 */
final class ServiceRequests {
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}");
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern USER = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]{0,31}\\$?|[0-9]{1,10}");
    /** Unit kinds other than services: ordering on them is meaningless here (there is no target to reach). */
    private static final Set<String> OTHER_UNITS = Set.of(".target", ".socket", ".mount", ".timer", ".path", ".slice",
            ".scope", ".device", ".swap", ".automount");
    private static final int MAX_SERVICES = 100;
    private static final int MAX_LINES = 100;
    private static final int MAX_LINE_BYTES = 64 * 1024;

    private ServiceRequests() { }

    /** The create field's services, validated together (dependencies must exist among them). */
    static List<ServiceSpec> fromCreate(SystemdApiTypes.SystemdConfig systemd) {
        if (systemd == null) return List.of();
        if (systemd.patchedServices() != null && !systemd.patchedServices().isEmpty()) {
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "systemd.patchedServices patches units of the image's own "
                    + "systemd; Burrow VMs run no systemd (Burrow supervises systemd.services itself); remove it");
        }
        if (systemd.services() == null || systemd.services().isEmpty()) return List.of();
        if (systemd.services().size() > MAX_SERVICES) throw bad(ErrorCode.CREATE_VM_BAD_REQUEST, "at most " + MAX_SERVICES + " services");
        List<ServiceSpec> out = new ArrayList<>();
        for (int i = 0; i < systemd.services().size(); i++) {
            ServiceSpec s = toSpec(systemd.services().get(i), "systemd.services[" + i + "]", ErrorCode.CREATE_VM_BAD_REQUEST);
            if (out.stream().anyMatch(o -> o.name().equals(s.name()))) {
                throw bad(ErrorCode.CREATE_VM_BAD_REQUEST, "systemd.services: the name '" + s.name() + "' is used twice");
            }
            out.add(s);
        }
        try {
            ServiceManager.validateGraph(out);
        } catch (BurrowException e) {
            throw bad(ErrorCode.CREATE_VM_BAD_REQUEST, "systemd.services: " + e.getMessage());
        }
        return out;
    }

    static ServiceSpec toSpec(SystemdApiTypes.ServiceRequest r, String field, ErrorCode code) {
        if (r == null) throw bad(code, field + " must be an object");
        String name = ServiceManager.normalize(r.name());
        if (name == null || !NAME.matcher(name).matches()) {
            throw bad(code, field + ".name must be 1-100 letters, digits or _.@- (starting with a letter, digit or _), got "
                    + quote(r.name()));
        }
        ServiceSpec.Mode mode;
        if ("oneshot".equals(r.mode())) mode = ServiceSpec.Mode.ONESHOT;
        else if ("service".equals(r.mode())) mode = ServiceSpec.Mode.SERVICE;
        else throw bad(code, field + ".mode must be \"oneshot\" or \"service\", got " + quote(r.mode()));
        if (r.exec() == null || r.exec().isEmpty()) throw bad(code, field + ".exec must be a non-empty list of commands");
        if (r.exec().size() > MAX_LINES) throw bad(code, field + ".exec has more than " + MAX_LINES + " commands");
        for (String line : r.exec()) {
            if (line == null || line.isBlank() || line.indexOf('\0') >= 0 || line.length() > MAX_LINE_BYTES) {
                throw bad(code, field + ".exec entries must be non-empty commands without NUL bytes, at most 64 KiB");
            }
        }
        Map<String, String> env = new LinkedHashMap<>();
        if (r.env() != null) {
            for (var e : r.env().entrySet()) {
                if (!ENV_NAME.matcher(e.getKey()).matches() || e.getValue() == null || e.getValue().indexOf('\0') >= 0) {
                    throw bad(code, field + ".env: invalid entry " + quote(e.getKey())
                            + " (names are letters, digits and _, not starting with a digit; values are strings)");
                }
                env.put(e.getKey(), e.getValue());
            }
        }
        if (r.user() != null && !USER.matcher(r.user()).matches()) throw bad(code, field + ".user is not a valid user name: " + quote(r.user()));
        if (r.group() != null && !USER.matcher(r.group()).matches()) throw bad(code, field + ".group is not a valid group name: " + quote(r.group()));
        if (r.workdir() != null && GuestPath.problem(r.workdir()) != null) {
            throw bad(code, field + ".workdir " + GuestPath.problem(r.workdir()));
        }
        boolean ready = Boolean.TRUE.equals(r.readySignal());
        if (ready && mode == ServiceSpec.Mode.ONESHOT) {
            // systemd's Type=notify and Type=oneshot exclude each other: a oneshot is started when it has ended
            throw bad(code, field + ".readySignal needs mode \"service\" (a oneshot counts as started when it ends)");
        }
        int watchdog = r.watchdogSec() == null ? 0 : r.watchdogSec();
        if (watchdog < 0 || watchdog > 86_400) {
            throw bad(code, field + ".watchdogSec must be between 0 (no watchdog) and 86400, got " + watchdog);
        }
        int timeout = r.timeoutSec() == null ? 0 : r.timeoutSec();
        if (timeout < 0 || timeout > 86_400) throw bad(code, field + ".timeoutSec must be between 0 and 86400, got " + timeout);
        ServiceSpec.Restart restart = ServiceSpec.Restart.DEFAULT;
        if (r.restartPolicy() != null) {
            var p = r.restartPolicy();
            ServiceSpec.Policy policy = ServiceSpec.Policy.fromWire(p.policy());
            if (policy == null) {
                throw bad(code, field + ".restartPolicy.policy must be one of no, on-failure, always, on-abnormal, got " + quote(p.policy()));
            }
            double sec = p.restartSec() == null ? restart.restartSec() : p.restartSec();
            if (!(sec >= 0 && sec <= 3600)) throw bad(code, field + ".restartPolicy.restartSec must be between 0 and 3600");
            int burst = p.startLimitBurst() == null ? restart.startLimitBurst() : p.startLimitBurst();
            if (burst < 0 || burst > 10_000) throw bad(code, field + ".restartPolicy.startLimitBurst must be between 0 and 10000");
            int interval = p.startLimitIntervalSec() == null ? restart.startLimitIntervalSec() : p.startLimitIntervalSec();
            if (interval < 0 || interval > 86_400) {
                throw bad(code, field + ".restartPolicy.startLimitIntervalSec must be between 0 and 86400");
            }
            if (mode == ServiceSpec.Mode.ONESHOT && policy == ServiceSpec.Policy.ALWAYS) {
                // as systemd: a oneshot that succeeded would run again forever
                throw bad(code, field + ": restart policy \"always\" is not allowed for a oneshot service (use on-failure)");
            }
            restart = new ServiceSpec.Restart(policy, sec, burst, interval);
        }
        List<String> after = units(r.after(), field + ".after", code, name);
        List<String> requires = units(r.requires(), field + ".requires", code, name);
        List<String> onFailure = units(r.onFailure(), field + ".onFailure", code, name);
        return new ServiceSpec(name, mode, r.exec(), env, r.user(), r.group(), r.workdir(), after, requires, onFailure,
                r.enable() == null || r.enable(), timeout, r.remainAfterExit() == null || r.remainAfterExit(),
                Boolean.TRUE.equals(r.deleteAfterSuccess()), restart, ready, watchdog);
    }

    /** Unit references as service names: {@code x.service} and {@code x} both mean service x; targets are dropped. */
    private static List<String> units(List<String> refs, String field, ErrorCode code, String self) {
        if (refs == null) return List.of();
        List<String> out = new ArrayList<>();
        for (String ref : refs) {
            if (ref == null) throw bad(code, field + " entries must be strings");
            if (OTHER_UNITS.stream().anyMatch(ref::endsWith)) continue;
            String n = ServiceManager.normalize(ref);
            if (!NAME.matcher(n).matches()) throw bad(code, field + ": " + quote(ref) + " is not a service name");
            if (n.equals(self)) throw bad(code, field + ": a service cannot refer to itself");
            if (!out.contains(n)) out.add(n);
        }
        return out;
    }

    private static String quote(String s) {
        if (s == null) return "nothing";
        return "'" + (s.length() > 60 ? s.substring(0, 60) + "…" : s) + "'";
    }

    private static BurrowException bad(ErrorCode code, String message) {
        return BurrowException.of(code, message);
    }
}
