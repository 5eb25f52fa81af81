package dev.burrow.core.vm;

import java.util.List;
import java.util.Map;

/**
 * One service Burrow supervises inside a VM (the Freestyle {@code systemd.services} entry, validated). The images
 * have no systemd, so these are not unit files: Burrow runs each one under a small supervisor script of its own
 * inside the VM (see {@code dev.burrow.core.service.ServiceScripts}).
 *
 * @param exec               shell command lines run one after the other; the first that fails ends the run
 * @param after              names of services (of this VM) this one starts after; other units are dropped
 * @param requires           services that must not have failed for this one to start; starting this one starts them
 * @param onFailure          services started when this one ends failed
 * @param enable             started whenever the VM boots (create, start after stop)
 * @param timeoutSec         oneshot: longest run before it is killed; any mode: TERM to KILL grace on stop. 0 = none
 * @param remainAfterExit    oneshot: stays "active (exited)" after success instead of "inactive (dead)"
 * @param deleteAfterSuccess oneshot: removed once it succeeded
 * @param readySignal        service: started (active) only once it sent {@code READY=1} through sd_notify, failed
 *                           with result {@code timeout} when that takes longer than timeoutSec (90 s when 0)
 * @param watchdogSec        any mode: killed (SIGABRT, then SIGKILL) when no {@code WATCHDOG=1} arrives for this long,
 *                           result {@code watchdog}, then its restart policy applies; 0 = no watchdog
 */
public record ServiceSpec(
        String name,
        Mode mode,
        List<String> exec,
        Map<String, String> env,
        String user,
        String group,
        String workdir,
        List<String> after,
        List<String> requires,
        List<String> onFailure,
        boolean enable,
        int timeoutSec,
        boolean remainAfterExit,
        boolean deleteAfterSuccess,
        Restart restart,
        boolean readySignal,
        int watchdogSec) {

    public enum Mode { ONESHOT, SERVICE }

    /** When a finished run is started again. */
    public enum Policy {
        NO("no"), ON_FAILURE("on-failure"), ALWAYS("always"), ON_ABNORMAL("on-abnormal");

        private final String wire;

        Policy(String wire) {
            this.wire = wire;
        }

        public String wire() {
            return wire;
        }

        public static Policy fromWire(String s) {
            for (Policy p : values()) if (p.wire.equals(s)) return p;
            return null;
        }
    }

    /**
     * Restart policy with systemd's defaults: 100 ms between restarts, at most 5 starts in 10 s (interval 0: no
     * limit), after which the service is failed with result {@code start-limit-hit}.
     */
    public record Restart(Policy policy, double restartSec, int startLimitBurst, int startLimitIntervalSec) {
        public static final Restart DEFAULT = new Restart(Policy.NO, 0.1, 5, 10);
    }

    /** systemd's DefaultTimeoutStartSec: how long a readySignal service may take to send READY=1 when timeoutSec is 0. */
    public static final int DEFAULT_START_TIMEOUT = 90;

    /** Whether the service talks sd_notify (gets a socket and {@code NOTIFY_SOCKET}). */
    public boolean notifies() {
        return readySignal || watchdogSec > 0;
    }

    public ServiceSpec {
        exec = List.copyOf(exec);
        env = env == null ? Map.of() : Map.copyOf(env);
        after = after == null ? List.of() : List.copyOf(after);
        requires = requires == null ? List.of() : List.copyOf(requires);
        onFailure = onFailure == null ? List.of() : List.copyOf(onFailure);
        if (restart == null) restart = Restart.DEFAULT;
    }
}
