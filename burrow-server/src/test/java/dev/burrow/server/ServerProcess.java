package dev.burrow.server;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import dev.burrow.core.testing.HostRequirements;

/**
 * A Burrow server in its own JVM (the test classpath, {@code burrow server}), so a test can kill it with
 * SIGKILL, or let a failpoint halt it mid-operation, and start it again on the same data dir.
 */
final class ServerProcess implements AutoCloseable {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    final Process process;
    final int port;
    final Path log;

    private ServerProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    static ServerProcess start(Path dataDir, Map<String, String> env) throws Exception {
        return start(dataDir, env, List.of());
    }

    /** With extra JVM options (a small heap, say) before the main class. */
    static ServerProcess start(Path dataDir, Map<String, String> env, List<String> jvmOptions) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.burrow.server.Main", "server",
                "--port", Integer.toString(port), "--data-dir", dataDir.toString(),
                // A free port for the SSH gateway: 2222 (the default) may be taken by another server on this host.
                "--ssh-port", "0",
                "--image-dir", HostRequirements.testCache().resolve("images").toString(),
                "--default-image", "builtin:busybox", "--preview-port", "0"));
        Path log = dataDir.resolveSibling(dataDir.getFileName() + "-server-" + port + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("BURROW_API_KEY", TestServer.KEY);
        pb.environment().putAll(env);
        ServerProcess sp = new ServerProcess(pb.start(), port, log);
        sp.awaitHealthy(Duration.ofSeconds(90));
        return sp;
    }

    private void awaitHealthy(Duration wait) throws Exception {
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) throw new IllegalStateException("server exited: " + tail());
            try {
                var r = HTTP.send(HttpRequest.newBuilder(URI.create(url() + "/healthz")).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) return;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("server did not become healthy: " + tail());
    }

    String url() {
        return "http://127.0.0.1:" + port;
    }

    /** A call; an I/O failure (the server halted mid-request) is returned as status -1. */
    TestServer.Response call(String method, String path, String body) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url() + path)).timeout(Duration.ofMinutes(2))
                    .header("Authorization", "Bearer " + TestServer.KEY);
            b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
            var r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new TestServer.Response(r.statusCode(), r.body());
        } catch (IOException e) {
            return new TestServer.Response(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    int awaitExit(Duration wait) throws InterruptedException {
        if (!process.waitFor(wait.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
        }
        return process.exitValue();
    }

    /** SIGKILL, as a crash or the OOM killer would. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    String tail() {
        try {
            List<String> lines = java.nio.file.Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }

    /** Graceful stop (SIGTERM runs the shutdown hook). */
    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
        }
        new File(log.toString()).delete();
    }
}
