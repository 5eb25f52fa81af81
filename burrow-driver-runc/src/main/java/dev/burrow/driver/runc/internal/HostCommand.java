package dev.burrow.driver.runc.internal;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import dev.burrow.core.driver.DriverException;

/**
 * The one way the driver runs host tools: an argument list (never a shell string built from user input),
 * a timeout, and stderr captured into the error. Output is bounded so a chatty tool cannot exhaust memory.
 */
public final class HostCommand {
    private static final int MAX_CAPTURE = 4 * 1024 * 1024;

    private final List<String> args;
    private Duration timeout = Duration.ofMinutes(2);
    private byte[] stdin;
    private File stdoutFile;
    private Consumer<String> lineListener;
    private final Map<String, String> env = new java.util.HashMap<>();

    private HostCommand(List<String> args) {
        this.args = List.copyOf(args);
    }

    public static HostCommand of(String... args) {
        return new HostCommand(List.of(args));
    }

    public static HostCommand of(List<String> args) {
        return new HostCommand(args);
    }

    public HostCommand timeout(Duration timeout) {
        this.timeout = timeout;
        return this;
    }

    public HostCommand stdin(byte[] input) {
        this.stdin = input;
        return this;
    }

    public HostCommand env(String key, String value) {
        env.put(key, value);
        return this;
    }

    /** Sends stdout (and what children inherit) to a file instead of capturing it, e.g. for detached runc. */
    public HostCommand stdoutTo(File file) {
        this.stdoutFile = file;
        return this;
    }

    /** Called with each line of stdout and stderr as it arrives (progress reporting). */
    public HostCommand onLine(Consumer<String> listener) {
        this.lineListener = listener;
        return this;
    }

    public List<String> args() {
        return args;
    }

    /** Runs and returns the result whatever the exit code. */
    public Result run() {
        long start = System.nanoTime();
        ProcessBuilder pb = new ProcessBuilder(args);
        pb.environment().putAll(env);
        if (stdoutFile != null) {
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(stdoutFile));
            pb.redirectError(ProcessBuilder.Redirect.appendTo(stdoutFile));
        }
        if (stdin == null) pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new DriverException("cannot start " + args.get(0) + ": " + e.getMessage(), e);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread outPump = stdoutFile == null ? pump(p.getInputStream(), out) : null;
        Thread errPump = stdoutFile == null ? pump(p.getErrorStream(), err) : null;
        if (stdin != null) {
            try (OutputStream os = p.getOutputStream()) {
                os.write(stdin);
            } catch (IOException ignored) {
                // the tool closed its stdin early; its exit status tells what happened
            }
        }
        boolean finished;
        try {
            finished = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
            if (outPump != null) outPump.join(2000);
            if (errPump != null) errPump.join(2000);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new DriverException("interrupted while running " + String.join(" ", args));
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        return new Result(args, finished ? p.exitValue() : -1, out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8), !finished, ms);
    }

    /** Runs and throws a {@link DriverException} carrying stderr unless the exit code is 0. */
    public Result check() {
        Result r = run();
        if (!r.ok()) throw new DriverException(r.describeFailure());
        return r;
    }

    private Thread pump(InputStream in, ByteArrayOutputStream sink) {
        Thread t = Thread.ofVirtual().start(() -> {
            byte[] buf = new byte[8192];
            StringBuilder line = new StringBuilder();
            try (in) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (sink) {
                        if (sink.size() < MAX_CAPTURE) sink.write(buf, 0, Math.min(n, MAX_CAPTURE - sink.size()));
                    }
                    if (lineListener != null) {
                        for (int i = 0; i < n; i++) {
                            char c = (char) (buf[i] & 0xff);
                            if (c == '\n' || c == '\r') {
                                if (!line.isEmpty()) lineListener.accept(line.toString());
                                line.setLength(0);
                            } else {
                                line.append(c);
                            }
                        }
                    }
                }
                if (lineListener != null && !line.isEmpty()) lineListener.accept(line.toString());
            } catch (IOException e) {
                // stream closed when the process was killed; what was read is kept
            }
        });
        return t;
    }

    public record Result(List<String> args, int exitCode, String stdout, String stderr, boolean timedOut,
                         long durationMs) {
        public boolean ok() {
            return exitCode == 0 && !timedOut;
        }

        public String describeFailure() {
            String cmd = String.join(" ", args.size() > 8 ? args.subList(0, 8) : args);
            if (timedOut) return cmd + ": timed out after " + durationMs + " ms";
            String detail = stderr.isBlank() ? stdout.strip() : stderr.strip();
            if (detail.length() > 2000) detail = detail.substring(0, 2000) + "…";
            return cmd + ": exit " + exitCode + (detail.isEmpty() ? "" : ": " + detail);
        }
    }

    /** Convenience for tests and callers that only need to know the tool exists. */
    public static boolean available(String tool) {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        for (String d : dirs) {
            if (!d.isEmpty() && new File(d, tool).canExecute()) return true;
        }
        return false;
    }

}
