package dev.burrow.driver.runc.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import dev.burrow.driver.runc.internal.HostCommand;

/**
 * A throwaway Docker registry (Debian's {@code docker-registry}, i.e. distribution 2.8) on a free loopback
 * port, optionally behind htpasswd basic auth. Plain HTTP: skopeo and the image store speak to loopback
 * registries without TLS. Everything it stores lives in one temp directory removed on {@link #close()}.
 */
public final class TestRegistry implements AutoCloseable {
    public static final String BINARY = "docker-registry";

    private final Path dir;
    private final Process process;
    private final int port;
    private final String credentials;

    private TestRegistry(Path dir, Process process, int port, String credentials) {
        this.dir = dir;
        this.process = process;
        this.port = port;
        this.credentials = credentials;
    }

    /** An anonymous registry. */
    public static TestRegistry start() {
        return start(null, null);
    }

    /**
     * A registry requiring {@code user}/{@code password}. Needs {@code htpasswd} (apache2-utils) to make the
     * bcrypt entry, the only hash distribution's htpasswd auth accepts.
     */
    public static TestRegistry startWithAuth(String user, String password) {
        return start(user, password);
    }

    private static TestRegistry start(String user, String password) {
        Path dir;
        try {
            dir = Files.createTempDirectory("burrow-registry-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            String auth = "";
            if (user != null) {
                String entry = HostCommand.of("htpasswd", "-Bbn", user, password).check().stdout().strip();
                Files.writeString(dir.resolve("htpasswd"), entry + "\n");
                auth = """
                        auth:
                          htpasswd:
                            realm: burrow-test
                            path: %s
                        """.formatted(dir.resolve("htpasswd"));
            }
            // The port is picked by binding and releasing it; another process could take it in between, so a
            // registry that fails to come up is retried on a new port.
            IOException last = null;
            for (int attempt = 0; attempt < 3; attempt++) {
                int port = freeLoopbackPort();
                String config = """
                        version: 0.1
                        log:
                          level: warn
                          accesslog:
                            disabled: true
                        storage:
                          filesystem:
                            rootdirectory: %s
                          delete:
                            enabled: true
                        http:
                          addr: 127.0.0.1:%d
                          secret: burrow-test-secret
                        %s""".formatted(dir.resolve("data"), port, auth);
                Path configFile = dir.resolve("config.yml");
                Files.writeString(configFile, config, StandardCharsets.UTF_8);
                Process p = new ProcessBuilder(BINARY, "serve", configFile.toString())
                        .redirectErrorStream(true)
                        .redirectOutput(dir.resolve("registry.log").toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .start();
                if (awaitUp(p, port)) {
                    return new TestRegistry(dir, p, port, user == null ? null : user + ":" + password);
                }
                stop(p);
                last = new IOException("docker-registry did not come up on port " + port + ": "
                        + Files.readString(dir.resolve("registry.log")));
            }
            throw last;
        } catch (IOException | RuntimeException e) {
            deleteQuietly(dir);
            throw e instanceof RuntimeException re ? re : new UncheckedIOException((IOException) e);
        }
    }

    /** {@code 127.0.0.1:<port>}. */
    public String hostPort() {
        return "127.0.0.1:" + port;
    }

    /** A reference in this registry, e.g. {@code ref("burrow/busybox:1")} → {@code 127.0.0.1:5000/burrow/busybox:1}. */
    public String ref(String repositoryAndTag) {
        return hostPort() + "/" + repositoryAndTag;
    }

    /** {@code user:password} when started with auth, else null. */
    public String credentials() {
        return credentials;
    }

    /** Stops the registry process but keeps its files; for tests of what happens when a registry goes away. */
    public void stop() {
        stop(process);
    }

    @Override
    public void close() {
        stop(process);
        deleteQuietly(dir);
    }

    private static boolean awaitUp(Process p, int port) {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) return false;
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + port + "/v2/").toURL()
                        .openConnection();
                c.setConnectTimeout(500);
                c.setReadTimeout(1000);
                int code = c.getResponseCode(); // 200 anonymous, 401 with auth: either way it serves
                c.disconnect();
                if (code == 200 || code == 401) return true;
            } catch (IOException notYet) {
                // not listening yet
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    private static void stop(Process p) {
        p.destroy();
        try {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static int freeLoopbackPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void deleteQuietly(Path dir) {
        HostCommand.of(List.of("rm", "-rf", "--one-file-system", dir.toString())).run();
    }
}
