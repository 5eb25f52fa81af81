package dev.burrow.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.http.Json;

/**
 * A real Burrow server for HTTP tests: real runc driver, real SQLite store, on a loopback port, with a
 * fresh data dir and the image cache shared by all test runs of the checkout. {@link FakeServer} starts the same
 * server over a fake driver and in-memory stores, for tests that need no real sandbox.
 */
public final class TestServer implements AutoCloseable {
    public static final String KEY = "test-key-" + Long.toHexString(System.nanoTime());
    /** {@code --max-vms} of a test server: room for the load tests; a test of the limits sets its own. */
    public static final int MAX_VMS = 10_000;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public final Path dataDir;
    public final BurrowServer server;
    private boolean closed;

    TestServer(Path dataDir, BurrowServer server) {
        this.dataDir = dataDir;
        this.server = server;
    }

    public static TestServer start(String defaultImage) {
        return start(defaultImage, null);
    }

    public static TestServer start(String defaultImage, Path existingDataDir) {
        return start(defaultImage, existingDataDir, ServerConfig.Lifecycle.defaults());
    }

    public static TestServer start(String defaultImage, Path existingDataDir, ServerConfig.Lifecycle lifecycle) {
        return start(defaultImage, existingDataDir, cfg -> cfg.withLifecycle(lifecycle));
    }

    /** A server whose configuration the test adjusts (observability settings, …). */
    public static TestServer start(String defaultImage, Path existingDataDir,
                                   java.util.function.UnaryOperator<ServerConfig> customize) {
        HostRequirements.requireRunc();
        try {
            Path dir = existingDataDir != null ? existingDataDir : Files.createTempDirectory("burrow-srv-");
            Path images = HostRequirements.testCache().resolve("images");
            // Room for the load tests' hundreds of small VMs on a 2-core host; a test of the limits sets its own.
            var cfg = customize.apply(new ServerConfig("127.0.0.1", 0, dir, null, null, null, images, defaultImage,
                    KEY, false).toBuilder().observability(new ServerConfig.Observability(MAX_VMS, null))
                    .admission(new ServerConfig.Admission(1000, 1000, 0, 0, ServerConfig.Admission.DEFAULT_VM_PIDS_MAX, 0))
                    .build());
            BurrowServer server;
            try {
                server = BurrowServer.start(cfg);
            } catch (RuntimeException | Error e) {
                // nothing ran yet, so nothing is mounted: a fresh data dir must not outlive a failed start
                if (existingDataDir == null) new TestServer(dir, null).deleteDataDir();
                throw e;
            }
            return new TestServer(dir, server);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String url() {
        return server.url();
    }

    public Response call(String method, String path, String body) {
        return call(method, path, body, KEY);
    }

    public Response call(String method, String path, String body, String key) {
        return call(method, path, body, key, java.util.Map.of());
    }

    /** A request with extra headers (e.g. the SDK's X-Freestyle-Vm-Linux-User-Id). */
    public Response call(String method, String path, String body, String key, java.util.Map<String, String> headers) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url() + path)).timeout(Duration.ofMinutes(5));
            headers.forEach(b::header);
            if (key != null) b.header("Authorization", "Bearer " + key);
            if (body != null) {
                b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
            } else {
                b.method(method, HttpRequest.BodyPublishers.noBody());
            }
            HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            return new Response(r.statusCode(), r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public Response get(String path) { return call("GET", path, null); }

    public Response post(String path, String body) { return call("POST", path, body); }

    public Response put(String path, String body) { return call("PUT", path, body); }

    public Response delete(String path) { return call("DELETE", path, null); }

    /** Creates a VM and returns its id (fails the test on anything but 200). */
    public String createVm(String body) {
        Response r = post("/v1/vms", body);
        if (r.status() != 200) throw new AssertionError("create failed: " + r);
        return r.json().get("id").asText();
    }

    /**
     * Deletes every VM the server still has (so a failed test leaves no container behind), stops the
     * server and removes its data dir. Deleting through the coordinator is what a user would do; if it
     * fails the data dir is kept, because removing a directory under a live mount would be worse.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        boolean clean = true;
        try {
            for (var vm : server.lifecycle().list(dev.burrow.core.store.VmQuery.all())) {
                try {
                    server.lifecycle().delete(vm.id(), "test-cleanup");
                } catch (RuntimeException e) {
                    clean = false;
                    System.err.println("test cleanup could not delete VM " + vm.id() + ": " + e.getMessage());
                }
            }
            // snapshots outlive their VMs; one left behind would keep the btrfs image mounted
            for (var snap : server.lifecycle().listSnapshots()) {
                try {
                    server.lifecycle().deleteSnapshot(snap.id(), "test-cleanup");
                } catch (RuntimeException e) {
                    clean = false;
                    System.err.println("test cleanup could not delete snapshot " + snap.id() + ": " + e.getMessage());
                }
            }
        } finally {
            server.close();
        }
        if (clean) deleteDataDir();
    }

    /** Same as {@link #close()}; kept for readability at call sites that stress the data dir goes away. */
    public void closeAndDelete() {
        close();
    }

    void deleteDataDir() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                if (line.contains(dataDir.toString())) return; // never delete through a mount
            }
        } catch (IOException e) {
            return;
        }
        try (var s = Files.walk(dataDir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort: a temp dir
        }
    }

    public record Response(int status, String body) {
        public JsonNode json() {
            try {
                return Json.MAPPER.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("response is not JSON: " + body, e);
            }
        }

        @Override
        public String toString() {
            return status + " " + body;
        }
    }
}
