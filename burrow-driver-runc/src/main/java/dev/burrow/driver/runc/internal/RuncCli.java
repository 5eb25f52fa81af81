package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.driver.DriverException;

/**
 * The runc command line, always with {@code --root} so each Burrow node keeps its containers apart from
 * every other runc user on the host.
 */
public final class RuncCli {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final Duration FREEZE_WAIT = Duration.ofSeconds(2);

    private final Path root;

    public RuncCli(Path root) {
        this.root = root;
    }

    public Path root() {
        return root;
    }

    /** What {@code runc state} reports; status is one of creating, created, running, paused, stopped. */
    public record ContainerState(String id, String status, long pid, String bundle) {
        public boolean alive() {
            return !status.equals("stopped");
        }
    }

    /** Whether runc has a state directory for the container (it exists in some status). */
    public boolean exists(String id) {
        return Files.isDirectory(root.resolve(id));
    }

    /**
     * The container's state, or empty when runc does not know it. Read from runc's own {@code state.json}
     * the way libcontainer derives it (init pid alive with the recorded start time; frozen cgroup; exec
     * fifo present), which costs microseconds instead of the ~15 ms of a {@code runc state} process; any
     * surprise in the file falls back to asking runc.
     */
    public Optional<ContainerState> state(String id) {
        // runc creates its state dir on any command; a query must not leave one behind after close().
        if (!Files.isDirectory(root)) return Optional.empty();
        Path dir = root.resolve(id);
        if (!Files.isDirectory(dir)) return Optional.empty();
        Optional<ContainerState> fast = stateFromFiles(id, dir);
        if (fast.isPresent()) return fast;
        return stateFromRunc(id);
    }

    private Optional<ContainerState> stateFromFiles(String id, Path dir) {
        try {
            JsonNode st = JSON.readTree(dir.resolve("state.json").toFile());
            long pid = st.path("init_process_pid").asLong(-1);
            String start = st.path("init_process_start").asText("");
            String bundle = "";
            for (JsonNode label : st.path("config").path("labels")) {
                if (label.asText().startsWith("bundle=")) bundle = label.asText().substring(7);
            }
            if (pid <= 0 || start.isEmpty()) return Optional.empty();
            String status;
            if (!processAlive(pid, start)) {
                status = "stopped";
            } else if (frozen(st.path("cgroup_paths").path("freezer").asText(""))) {
                status = "paused";
            } else if (Files.exists(dir.resolve("exec.fifo"))) {
                status = "created";
            } else {
                status = "running";
            }
            return Optional.of(new ContainerState(id, status, pid, bundle));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Alive and the same process: the start time (field 22 of /proc/pid/stat) guards against pid reuse. */
    static boolean processAlive(long pid, String startTime) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // f[0] is field 3 (state); field 22 (starttime) is f[19]
            return !f[0].equals("Z") && !f[0].equals("X") && f[19].equals(startTime);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static boolean frozen(String freezerPath) throws IOException {
        if (freezerPath.isEmpty()) return false;
        Path state = Path.of(freezerPath, "freezer.state");
        return Files.exists(state) && !Files.readString(state).strip().equals("THAWED");
    }

    /** Waits until the process is gone (or a zombie), polling /proc; true if it ended in time. */
    public static boolean awaitExit(long pid, String startTime, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (processAlive(pid, startTime)) {
            if (System.nanoTime() > deadline) return false;
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** The init's recorded start time, for {@link #awaitExit}. */
    public Optional<String> initStartTime(String id) {
        try {
            return Optional.of(JSON.readTree(root.resolve(id).resolve("state.json").toFile())
                    .path("init_process_start").asText());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private Optional<ContainerState> stateFromRunc(String id) {
        HostCommand.Result r = command("state", id).run();
        if (!r.ok()) {
            if (missing(r)) return Optional.empty();
            throw new DriverException(r.describeFailure());
        }
        return Optional.of(parse(read(r.stdout())));
    }

    public List<ContainerState> list() {
        if (!Files.isDirectory(root)) return List.of();
        // runc lists its state directory, then reads each container's state: a container deleted in between fails
        // the whole listing with "no such file or directory". Concurrent deletes are normal; list again.
        HostCommand.Result r = command("list", "--format", "json").run();
        for (int attempt = 1; !r.ok() && r.stderr().contains("no such file or directory") && attempt < 5; attempt++) {
            r = command("list", "--format", "json").run();
        }
        if (!r.ok()) throw new DriverException(r.describeFailure());
        JsonNode node = read(r.stdout());
        List<ContainerState> result = new ArrayList<>();
        // runc prints "null", not "[]", when there are no containers.
        if (node.isArray()) node.forEach(n -> result.add(parse(n)));
        return result;
    }

    /**
     * {@code runc run -d}: creates and starts the container, then returns. The container's stdio (and
     * runc's own messages) are appended to {@code consoleLog}, so nothing in this JVM holds a pipe to it.
     */
    public void runDetached(String id, Path bundle, Path pidFile, Path consoleLog) {
        HostCommand.Result r = command("run", "-d", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), id)
                .stdoutTo(consoleLog.toFile())
                .run();
        if (!r.ok()) {
            throw new DriverException(r.describeFailure() + tail(consoleLog));
        }
    }

    /** Sends a signal to the init ({@code all=false}) or to every process of the container. */
    public HostCommand.Result kill(String id, String signal, boolean all) {
        return all ? command("kill", "--all", id, signal).run() : command("kill", id, signal).run();
    }

    /** Deletes the container; succeeds when it does not exist. */
    public void delete(String id, boolean force) {
        HostCommand.Result r = force ? command("delete", "--force", id).run() : command("delete", id).run();
        if (!r.ok() && !missing(r)) throw new DriverException(r.describeFailure());
    }

    public void pause(String id) {
        command("pause", id).check();
    }

    /**
     * Freezes the container for a moment, as {@code runc pause} does (the cgroup v1 freezer), but by writing
     * the freezer file directly: about 1 ms instead of ~15 ms for each runc process, which matters for
     * operations that freeze around a short host-side action (file access, disk snapshots). Falls back to
     * {@code runc pause} when the freezer path is unknown or the cgroup does not settle in FROZEN.
     * {@link #state} reports the container paused meanwhile; {@link #thaw} undoes it.
     */
    public void freeze(String id) {
        Path state = freezerState(id);
        if (state != null) {
            try {
                Files.writeString(state, "FROZEN");
                long deadline = System.nanoTime() + FREEZE_WAIT.toNanos();
                while (System.nanoTime() < deadline) {
                    // Reading is what moves a v1 freezer from FREEZING to FROZEN once every task stopped.
                    if (Files.readString(state).strip().equals("FROZEN")) return;
                    Thread.sleep(1);
                }
                // Stuck in FREEZING (a task in an uninterruptible wait): undo, and let runc retry its way.
                Files.writeString(state, "THAWED");
            } catch (IOException e) {
                // the cgroup went away or is not writable: runc reports why
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                thaw(id);
                throw new DriverException("interrupted while freezing " + id);
            }
        }
        pause(id);
    }

    /** Thaws what {@link #freeze} froze. */
    public void thaw(String id) {
        Path state = freezerState(id);
        if (state != null) {
            try {
                Files.writeString(state, "THAWED");
                return;
            } catch (IOException e) {
                // fall back to runc, which reports why
            }
        }
        resume(id);
    }

    /** The container's v1 freezer.state file from runc's state.json, or null when there is none. */
    private Path freezerState(String id) {
        try {
            JsonNode st = JSON.readTree(root.resolve(id).resolve("state.json").toFile());
            String freezer = st.path("cgroup_paths").path("freezer").asText("");
            if (freezer.isEmpty()) return null;
            Path state = Path.of(freezer, "freezer.state");
            return Files.isRegularFile(state) ? state : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    public void resume(String id) {
        command("resume", id).check();
    }

    public void update(String id, long cpuQuotaUs, long cpuPeriodUs, long memoryBytes, long memorySwapBytes) {
        command("update", "--cpu-period", Long.toString(cpuPeriodUs), "--cpu-quota", Long.toString(cpuQuotaUs),
                "--memory", Long.toString(memoryBytes), "--memory-swap", Long.toString(memorySwapBytes), id)
                .check();
    }

    /** The leading arguments of a {@code runc exec} (global flags included). */
    public List<String> execPrefix() {
        return List.of("runc", "--root", root.toString(), "exec");
    }

    private HostCommand command(String... args) {
        List<String> argv = new ArrayList<>(List.of("runc", "--root", root.toString()));
        argv.addAll(List.of(args));
        return HostCommand.of(argv).timeout(TIMEOUT);
    }

    private static boolean missing(HostCommand.Result r) {
        return r.stderr().contains("does not exist");
    }

    private static JsonNode read(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new DriverException("unexpected output from runc: " + json, e);
        }
    }

    private static ContainerState parse(JsonNode n) {
        return new ContainerState(n.path("id").asText(), n.path("status").asText(), n.path("pid").asLong(),
                n.path("bundle").asText());
    }

    /** The end of the console log, where runc wrote why the container did not start. */
    private static String tail(Path log) {
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            long len = f.length();
            int n = (int) Math.min(len, 2000);
            byte[] b = new byte[n];
            f.seek(len - n);
            f.readFully(b);
            String text = new String(b, StandardCharsets.UTF_8).strip();
            return text.isEmpty() ? "" : ": " + text;
        } catch (IOException e) {
            return Files.exists(log) ? ": (console log unreadable: " + e.getMessage() + ")" : "";
        }
    }
}
