package dev.burrow.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

import dev.burrow.core.testing.FakeDriver;
import dev.burrow.core.testing.InMemoryStores;

/**
 * The HTTP test harness: Burrow's real HTTP API (every route module, the route table and its auth, the error
 * responses, {@code /openapi.json}, the coordinator and the loops) over a {@link FakeDriver} and in-memory stores. No
 * root, no runc, no database: it starts in well under a second, so tests of validation, error shapes, route auth and
 * the OpenAPI document run anywhere. Its data dir holds only the server's small files (node id, keys) and goes
 * away on close. A test whose assertion needs a real sandbox (isolation, a real file system, a real process) uses
 * {@link TestServer#start(String)}.
 */
public final class FakeServer {
    /** The image a fake server's VMs get when the request names none. */
    public static final String DEFAULT_IMAGE = "builtin:busybox";

    private FakeServer() { }

    public static TestServer start() {
        return start(cfg -> cfg);
    }

    /** A fake server whose configuration the test adjusts. */
    public static TestServer start(UnaryOperator<ServerConfig> customize) {
        Path dir;
        try {
            // named like a real test server's dir, so the checks for leaked host paths look for it too
            dir = Files.createTempDirectory("burrow-srv-fake-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        var cfg = customize.apply(new ServerConfig("127.0.0.1", 0, dir, null, null, null, dir.resolve("images"),
                DEFAULT_IMAGE, TestServer.KEY, false).toBuilder()
                .observability(new ServerConfig.Observability(TestServer.MAX_VMS, null))
                .admission(new ServerConfig.Admission(1000, 1000, 0, 0, ServerConfig.Admission.DEFAULT_VM_PIDS_MAX, 0))
                .build());
        BurrowServer server;
        long t0 = System.nanoTime();
        try {
            server = BurrowServer.start(cfg, new BurrowServer.Backend(new FakeDriver(), InMemoryStores.create()));
        } catch (RuntimeException | Error e) {
            new TestServer(dir, null).deleteDataDir();
            throw e;
        }
        System.out.printf("fake server up in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        return new TestServer(dir, server);
    }
}
