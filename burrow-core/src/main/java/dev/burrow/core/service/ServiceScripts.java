package dev.burrow.core.service;

import java.security.SecureRandom;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.burrow.core.driver.ServiceNotify;
import dev.burrow.core.vm.ServiceSpec;

/**
 * The POSIX shell Burrow runs inside a VM to supervise its services. VM images have no systemd, and a host-side
 * process per service would die with the server; so each service runs under a small supervisor script inside the
 * VM that keeps running across a server restart, and writes everything the host needs into one directory per
 * service, {@code /run/burrow/services/<name>/}:
 * <ul>
 *   <li>{@code run.sh}: the supervisor (ordering, restart policy, start limit, oneshot timeout, onFailure);</li>
 *   <li>{@code exec.sh}, {@code body.sh}: one run (user switch, then the command lines) with its output stamped
 *       into {@code log} as {@code <epoch seconds> <line>};</li>
 *   <li>{@code status}: {@code <state> <result> <exit code> <epoch>}, replaced atomically;</li>
 *   <li>{@code pid}: the supervisor's pid, {@code pgid}: the current run's process group, {@code starts}: recent
 *       start times for the start limit;</li>
 *   <li>{@code ended}: {@code <result> <code>} of the last run that ended since the launch (a start waiting for
 *       READY=1 reads it); {@code wg}: the pid of the run's watchdog; {@code watchdog}, {@code notready},
 *       {@code timedout}: markers of why a run ended.</li>
 * </ul>
 * readySignal and watchdogSec services read what their sd_notify socket received from the read-only
 * {@code /.burrow-notify/<key>/} the host writes (see {@code ServiceNotify}).
 * Only busybox-or-coreutils tools are used ({@code date mv rm mkdir cat sleep kill wc setsid}); the user switch
 * uses util-linux {@code setpriv} and falls back to {@code su}. Every value from a request is single-quoted.
 */
public final class ServiceScripts {
    public static final String BASE = "/run/burrow/services";
    /** TERM to KILL grace when a service is stopped and its {@code timeoutSec} is 0. */
    public static final int DEFAULT_STOP_GRACE = 10;
    /** The log is rotated (one old file kept) when it passes this size at the start of a run. */
    public static final long LOG_ROTATE_BYTES = 4L * 1024 * 1024;
    private static final SecureRandom RANDOM = new SecureRandom();

    private ServiceScripts() { }

    public static String dir(String name) {
        return BASE + "/" + name;
    }

    /**
     * Writes every service's scripts (so that any of them can be launched later, also by another service's
     * onFailure), resets the runtime state of those in {@code reset} and removes directories of services that are no
     * longer defined. Nothing is started.
     */
    public static String install(Collection<ServiceSpec> services, Collection<String> reset, boolean pruneOthers) {
        StringBuilder sb = new StringBuilder("set -e\nmkdir -p " + BASE + "\n");
        if (pruneOthers) {
            StringBuilder keep = new StringBuilder();
            for (ServiceSpec s : services) keep.append(' ').append(q(s.name()));
            sb.append("for d in ").append(BASE).append("/*; do [ -d \"$d\" ] || continue; n=${d##*/}; k=0; for s in")
                    .append(keep).append("; do [ \"$n\" = \"$s\" ] && k=1; done; [ $k = 1 ] || rm -rf \"$d\"; done\n");
        }
        for (ServiceSpec s : services) {
            String d = q(dir(s.name()));
            sb.append("mkdir -p ").append(d).append('\n');
            heredoc(sb, dir(s.name()) + "/run.sh", supervisor(s));
            heredoc(sb, dir(s.name()) + "/exec.sh", execScript(s));
            heredoc(sb, dir(s.name()) + "/body.sh", body(s));
            if (reset.contains(s.name())) {
                sb.append("rm -f ").append(d).append("/status ").append(d).append("/pid ").append(d).append("/pgid ")
                        .append(d).append("/starts ").append(d).append("/rc ").append(d).append("/timedout\n");
            }
        }
        return sb.toString();
    }

    /**
     * Launches the supervisors of {@code names} (whose scripts are installed), unless one is alive already. All of
     * them are marked {@code waiting} first, so that a service ordered after another one launched in the same batch
     * sees it pending rather than absent. Prints {@code launched <name>} or {@code active <name>} per service.
     */
    public static String launch(List<String> names) {
        StringBuilder sb = new StringBuilder(ALIVE_FN);
        sb.append("now=$(date +%s); L=\nfor n in");
        for (String n : names) sb.append(' ').append(q(n));
        // a oneshot that remained "exited" after success is active: starting it again is a no-op, as in systemd
        sb.append("; do d=").append(BASE).append("/$n; st=; read -r st rest < \"$d/status\" 2>/dev/null || true\n")
                .append("  if alive \"$d\" || [ \"$st\" = exited ]; then echo \"active $n\"; continue; fi\n")
                .append("  rm -f \"$d/starts\" \"$d/pgid\" \"$d/ended\"; echo \"waiting - 0 $now\" > \"$d/status\"; L=\"$L $n\"; done\n")
                .append("for n in $L; do sh \"").append(BASE).append("/$n/run.sh\" </dev/null >/dev/null 2>&1 &\n")
                .append("  echo \"launched $n\"; done\n");
        return sb.toString();
    }

    /**
     * Stops services: the supervisor first (so it cannot restart the run), then TERM to the run's process group,
     * KILL after {@code grace} seconds. The state becomes {@code dead} with {@code result}.
     */
    public static String stop(List<String> names, Map<String, Integer> graceByName, String result) {
        StringBuilder sb = new StringBuilder(ALIVE_FN);
        for (String n : names) {
            String d = q(dir(n));
            int grace = graceByName.getOrDefault(n, DEFAULT_STOP_GRACE);
            sb.append("d=").append(d).append("\n")
                    .append("if [ -d \"$d\" ]; then\n")
                    .append("  if alive \"$d\"; then kill -KILL \"$(cat \"$d/pid\")\" 2>/dev/null || true; fi\n")
                    // the oneshot timeout watchdog of a killed supervisor must not fire later
                    .append("  for f in wd wg; do w=$(cat \"$d/$f\" 2>/dev/null || true); [ -z \"$w\" ] || kill \"$w\" 2>/dev/null || true; done\n")
                    .append("  g=$(cat \"$d/pgid\" 2>/dev/null || true)\n")
                    .append("  if [ -n \"$g\" ] && kill -0 -\"$g\" 2>/dev/null; then\n")
                    .append("    kill -TERM -\"$g\" 2>/dev/null || true; i=0\n")
                    .append("    while kill -0 -\"$g\" 2>/dev/null && [ $i -lt ").append(grace * 10).append(" ]; do sleep 0.1; i=$((i + 1)); done\n")
                    .append("    kill -KILL -\"$g\" 2>/dev/null || true\n")
                    .append("  fi\n")
                    .append("  rm -f \"$d/pgid\" \"$d/pid\" \"$d/wd\" \"$d/wg\"; echo \"dead ").append(result).append(" 0 $(date +%s)\" > \"$d/status\"\n")
                    .append("  echo \"$(date +%s) burrow: stopped (").append(result).append(")\" >> \"$d/log\"\n")
                    .append("fi\n");
        }
        return sb.toString();
    }

    /** Removes services' directories (after {@link #stop}). */
    public static String remove(List<String> names) {
        StringBuilder sb = new StringBuilder("rm -rf");
        for (String n : names) sb.append(' ').append(q(dir(n)));
        return sb.append('\n').toString();
    }

    /**
     * One line per service directory: {@code <name> <state> <result> <code> <since> <supervisor alive 0|1>}; a service
     * never launched in this boot prints state {@code -}.
     */
    public static String statusAll() {
        return ALIVE_FN + "[ -d " + BASE + " ] || exit 0\n"
                + "for d in " + BASE + "/*; do [ -d \"$d\" ] || continue; n=${d##*/}\n"
                + "  st='- - 0 0'; [ -f \"$d/status\" ] && st=$(cat \"$d/status\")\n"
                + "  a=0; alive \"$d\" && a=1\n"
                + "  echo \"$n $st $a\"; done\n";
    }

    /**
     * One line per service: {@code <name> <state> <ended result>}, the result of a run that ended since the last
     * launch or {@code -}: what a start waiting for READY=1 needs to tell "still activating" from "failed to start".
     */
    public static String startState(List<String> names) {
        StringBuilder sb = new StringBuilder("for n in");
        for (String n : names) sb.append(' ').append(q(n));
        return sb.append("; do d=").append(BASE).append("/$n; st=-; e=-\n")
                .append("  read -r st rest < \"$d/status\" 2>/dev/null || true; read -r e rest < \"$d/ended\" 2>/dev/null || true\n")
                .append("  echo \"$n ${st:--} ${e:--}\"; done\n").toString();
    }

    /** True when the directory's {@code pid} names a live supervisor of that very directory (not a recycled pid). */
    private static final String ALIVE_FN = """
            alive() {
              p=$(cat "$1/pid" 2>/dev/null) || return 1
              [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
              case "$(tr '\\000' ' ' < "/proc/$p/cmdline" 2>/dev/null)" in *"$1/run.sh"*) return 0 ;; esac
              return 1
            }
            """;

    static String supervisor(ServiceSpec s) {
        var r = s.restart();
        boolean oneshot = s.mode() == ServiceSpec.Mode.ONESHOT;
        int grace = s.timeoutSec() > 0 ? s.timeoutSec() : DEFAULT_STOP_GRACE;
        return "# Burrow's supervisor for service " + s.name() + " (generated, see ServiceScripts.java)\n"
                + "B=" + BASE + "\nD=" + q(dir(s.name())) + "\n"
                + "MODE=" + (oneshot ? "oneshot" : "service") + "\n"
                + "POLICY=" + r.policy().wire() + "\n"
                + "RESTART_SEC=" + String.format(Locale.ROOT, "%.3f", r.restartSec()) + "\n"
                + "BURST=" + r.startLimitBurst() + "\nINTERVAL=" + r.startLimitIntervalSec() + "\n"
                + "TIMEOUT=" + (oneshot ? s.timeoutSec() : 0) + "\nGRACE=" + grace + "\n"
                + "REMAIN=" + (s.remainAfterExit() ? 1 : 0) + "\n"
                + "AFTER=" + q(String.join(" ", s.after())) + "\nREQUIRES=" + q(String.join(" ", s.requires())) + "\n"
                + "ONFAILURE=" + q(String.join(" ", s.onFailure())) + "\n"
                + "READY=" + (s.readySignal() ? 1 : 0) + "\nWDSEC=" + s.watchdogSec() + "\n"
                + "START_TIMEOUT=" + (s.timeoutSec() > 0 ? s.timeoutSec() : ServiceSpec.DEFAULT_START_TIMEOUT) + "\n"
                + "NB=" + ServiceNotify.MOUNT_POINT + "\nNK=" + q(ServiceNotify.MOUNT_POINT + "/" + ServiceNotify.key(s.name())) + "\n"
                + SUPERVISOR_BODY;
    }

    private static final String SUPERVISOR_BODY = """
            status() { echo "$1 $2 $3 $(date +%s)" > "$D/status.tmp" && mv -f "$D/status.tmp" "$D/status"; }
            say() { echo "$(date +%s) burrow: $*" >> "$D/log"; }
            alive() {
              p=$(cat "$1/pid" 2>/dev/null) || return 1
              [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
              case "$(tr '\\000' ' ' < "/proc/$p/cmdline" 2>/dev/null)" in *"$1/run.sh"*) return 0 ;; esac
              return 1
            }
            # sd_notify counts the host writes into $NK/state (see ServiceNotify): they only grow, a change is news
            nstate() { n_r=0; n_w=0; n_t=0; n_s=0; read -r n_r n_w n_t n_s < "$NK/state" 2>/dev/null || true; }
            # a process that still runs (our child stays a zombie until waited for)
            running() { s_=; read -r _a _b s_ _c < "/proc/$1/stat" 2>/dev/null || return 1; [ "$s_" != Z ]; }
            # the watchdog of one run: SIGABRT to its group when no WATCHDOG=1 came for WDSEC s, SIGKILL after GRACE.
            # Judged only while the host listens ($NB/alive holds its time, 0 when it stopped: pings sent while
            # nobody listens are lost), and the window starts anew after a freeze (a suspended VM).
            wdog_loop() {
              nstate; lw=$n_w; lt=$n_t; base=$(date +%s); prev=$base; why=
              while running "$1"; do
                sleep 1; now=$(date +%s)
                [ $((now - prev)) -gt 3 ] && base=$now
                prev=$now
                hb=$(cat "$NB/alive" 2>/dev/null); case "$hb" in ''|*[!0-9]*) hb=0 ;; esac
                nstate
                if [ "$n_w" != "$lw" ]; then lw=$n_w; base=$now; fi
                if [ "$n_t" != "$lt" ]; then why="WATCHDOG=trigger received"
                elif [ "$hb" = 0 ] || [ $((now - hb)) -gt 3 ]; then base=$now; continue
                elif [ $((now - base)) -gt "$WDSEC" ]; then why="no WATCHDOG=1 for ${WDSEC}s"
                else continue; fi
                : > "$D/watchdog"; say "watchdog: $why; sending SIGABRT"
                kill -ABRT -"$1" 2>/dev/null || kill -ABRT "$1" 2>/dev/null
                sleep "$GRACE"; kill -KILL -"$1" 2>/dev/null
                return 0
              done
            }
            echo $$ > "$D/pid"
            if [ "$READY" = 1 ] || [ "$WDSEC" -gt 0 ]; then
              if [ ! -S "$NK/notify" ]; then
                say "no sd_notify socket at $NK/notify (the VM started before Burrow supported readySignal/watchdogSec; stop and start it)"
                status failed resources 0; rm -f "$D/pid"; exit 0
              fi
            fi
            # ordering: wait while a service this one comes after is still on its way up (a oneshot until it ended)
            for dep in $AFTER; do
              while st=; read -r st rest < "$B/$dep/status" 2>/dev/null; do
                case "$st" in waiting|activating|auto-restart) sleep 0.2 ;; *) break ;; esac
              done
            done
            for dep in $REQUIRES; do
              st=; read -r st rest < "$B/$dep/status" 2>/dev/null
              if [ "$st" = failed ]; then say "dependency $dep failed; not starting"; status failed dependency 0; exit 0; fi
            done
            code=0
            while :; do
              now=$(date +%s); n=0; keep=
              if [ "$INTERVAL" -gt 0 ] && [ -f "$D/starts" ]; then
                while read -r t; do
                  if [ $((now - t)) -lt "$INTERVAL" ]; then n=$((n + 1)); keep="$keep $t"; fi
                done < "$D/starts"
              fi
              if [ "$INTERVAL" -gt 0 ] && [ "$BURST" -gt 0 ] && [ "$n" -ge "$BURST" ]; then
                say "start limit hit ($n starts within ${INTERVAL}s); giving up"
                status failed start-limit-hit "$code"; break
              fi
              { for t in $keep; do echo "$t"; done; echo "$now"; } > "$D/starts"
              if [ -f "$D/log" ] && [ "$(wc -c < "$D/log")" -gt LOG_ROTATE ]; then mv -f "$D/log" "$D/log.1"; fi
              rm -f "$D/timedout" "$D/rc" "$D/watchdog" "$D/notready"
              if [ "$MODE" = oneshot ] || [ "$READY" = 1 ]; then status activating - "$code"; else status running - "$code"; fi
              nstate; r0=$n_r
              say "started"
              if command -v setsid >/dev/null 2>&1; then setsid sh "$D/exec.sh" </dev/null >/dev/null 2>&1 &
              else sh "$D/exec.sh" </dev/null >/dev/null 2>&1 & fi
              child=$!
              echo "$child" > "$D/pgid"
              wd=
              if [ "$TIMEOUT" -gt 0 ]; then
                ( sleep "$TIMEOUT"; : > "$D/timedout"; kill -TERM -"$child" 2>/dev/null || kill -TERM "$child"
                  sleep "$GRACE"; kill -KILL -"$child" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
                wd=$!; echo "$wd" > "$D/wd"
              fi
              wg=
              if [ "$WDSEC" -gt 0 ]; then
                wdog_loop "$child" </dev/null >/dev/null 2>&1 &
                wg=$!; echo "$wg" > "$D/wg"
              fi
              if [ "$READY" = 1 ]; then
                # Type=notify: activating until READY=1; TERM (KILL after GRACE) when it takes longer than START_TIMEOUT
                deadline=$(( $(date +%s) + START_TIMEOUT ))
                while :; do
                  nstate
                  if [ "$n_r" != "$r0" ]; then status running - "$code"; say "ready (READY=1)"; break; fi
                  if ! running "$child"; then : > "$D/notready"; break; fi
                  if [ "$(date +%s)" -ge "$deadline" ]; then
                    : > "$D/timedout"; say "no READY=1 within ${START_TIMEOUT}s; stopping"
                    kill -TERM -"$child" 2>/dev/null || kill -TERM "$child"
                    ( sleep "$GRACE"; kill -KILL -"$child" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
                    wd=$!; echo "$wd" > "$D/wd"
                    break
                  fi
                  sleep 0.2
                done
              fi
              wait "$child"; code=$?
              # the run is over: its group id may be reused, so a later stop must not signal it
              rm -f "$D/pgid"
              if [ -n "$wd" ]; then kill "$wd" 2>/dev/null; rm -f "$D/wd"; fi
              if [ -n "$wg" ]; then kill "$wg" 2>/dev/null; rm -f "$D/wg"; fi
              if [ -f "$D/rc" ]; then code=$(cat "$D/rc"); fi
              clean=no; result=exit-code
              if [ -f "$D/timedout" ]; then result=timeout
              elif [ -f "$D/watchdog" ]; then result=watchdog
              elif [ -f "$D/notready" ] && [ "$code" -eq 0 ]; then result=protocol
              elif [ "$code" -eq 0 ]; then result=success; clean=yes
              elif [ "$code" -gt 128 ] && [ "$code" -lt 160 ]; then
                result=signal
                case $((code - 128)) in 1|2|13|15) clean=yes ;; esac
              fi
              restart=no
              case "$POLICY" in
                always) restart=yes ;;
                on-failure) [ $clean = no ] && restart=yes ;;
                on-abnormal) { [ $result = signal ] && [ $clean = no ]; } || [ $result = timeout ] || [ $result = watchdog ] && restart=yes ;;
              esac
              say "exited: result $result, status $code"
              echo "$result $code" > "$D/ended"
              if [ $restart = yes ]; then
                status auto-restart "$result" "$code"
                sleep "$RESTART_SEC"
                continue
              fi
              if [ $clean = yes ]; then
                if [ "$MODE" = oneshot ] && [ "$REMAIN" = 1 ]; then status exited success "$code"; else status dead success "$code"; fi
                rm -f "$D/pid"; exit 0
              fi
              status failed "$result" "$code"
              break
            done
            # failed: start the services named in onFailure (their scripts are installed)
            for u in $ONFAILURE; do
              alive "$B/$u" && continue
              [ -f "$B/$u/run.sh" ] || continue
              rm -f "$B/$u/starts"; echo "waiting - 0 $(date +%s)" > "$B/$u/status"
              sh "$B/$u/run.sh" </dev/null >/dev/null 2>&1 &
            done
            rm -f "$D/pid"
            """.replace("LOG_ROTATE", Long.toString(LOG_ROTATE_BYTES));

    /**
     * One run: switch to the service's user, run the body, stamp every output line with the time into the log,
     * record the body's exit code (a pipeline's own status is the stamper's).
     */
    static String execScript(ServiceSpec s) {
        StringBuilder sb = new StringBuilder("D=" + q(dir(s.name())) + "\nU=" + q(s.user() == null ? "" : s.user())
                + "\nG=" + q(s.group() == null ? "" : s.group()) + "\n");
        sb.append("""
                run() {
                  if [ -z "$U" ]; then
                    if [ -n "$G" ]; then U=root; else exec /bin/sh "$D/body.sh"; fi
                  fi
                  found=
                  while IFS=: read -r pn px puid pgid pgecos phome pshell; do
                    if [ "$pn" = "$U" ] || [ "$puid" = "$U" ]; then found=1; break; fi
                  done < /etc/passwd
                  if [ -z "$found" ]; then echo "burrow: user '$U' does not exist in this VM"; exit 217; fi
                  export HOME="$phome" USER="$pn" LOGNAME="$pn"
                  if setpriv --help 2>&1 | grep -q -- --reuid; then
                    exec setpriv --reuid="$puid" --regid="${G:-$pgid}" --init-groups /bin/sh "$D/body.sh"
                  fi
                  if [ -n "$G" ]; then echo "burrow: running as group '$G' needs util-linux setpriv in the VM"; exit 216; fi
                  exec su -s /bin/sh "$pn" -c "exec /bin/sh '$D/body.sh'"
                }
                { (run); echo $? > "$D/rc"; } 2>&1 | while IFS= read -r l || [ -n "$l" ]; do echo "$(date +%s) $l"; done >> "$D/log"
                rc=$(cat "$D/rc" 2>/dev/null); exit "${rc:-1}"
                """);
        return sb.toString();
    }

    /** The service's own commands: working directory, environment, then each exec line; the first failure ends it. */
    static String body(ServiceSpec s) {
        StringBuilder sb = new StringBuilder();
        if (s.workdir() != null) {
            sb.append("cd ").append(q(s.workdir())).append(" || { echo \"burrow: cannot enter working directory ")
                    .append(s.workdir().replace("\"", "")).append("\"; exit 200; }\n");
        }
        if (s.notifies()) {
            // as systemd: the socket for sd_notify(3), and the watchdog interval for sd_watchdog_enabled(3).
            // WATCHDOG_PID is not set: the main process here is the shell running the exec lines, not the daemon.
            sb.append("export NOTIFY_SOCKET=").append(q(ServiceNotify.socketPath(s.name()))).append('\n');
            if (s.watchdogSec() > 0) sb.append("export WATCHDOG_USEC=").append(s.watchdogSec() * 1_000_000L).append('\n');
        }
        for (var e : s.env().entrySet()) sb.append("export ").append(e.getKey()).append('=').append(q(e.getValue())).append('\n');
        for (String line : s.exec()) sb.append("{\n").append(line).append("\n} || exit $?\n");
        return sb.append("exit 0\n").toString();
    }

    /** Appends a command that writes {@code content} to {@code path} (a quoted here-document with a random end mark). */
    private static void heredoc(StringBuilder sb, String path, String content) {
        String mark = "BURROW_EOF_" + HexFormat.of().formatHex(randomBytes());
        sb.append("cat > ").append(q(path + ".tmp")).append(" <<'").append(mark).append("'\n").append(content);
        if (!content.endsWith("\n")) sb.append('\n');
        sb.append(mark).append('\n').append("mv -f ").append(q(path + ".tmp")).append(' ').append(q(path)).append('\n');
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        RANDOM.nextBytes(b);
        return b;
    }

    /** Single-quotes a value for sh. */
    public static String q(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
