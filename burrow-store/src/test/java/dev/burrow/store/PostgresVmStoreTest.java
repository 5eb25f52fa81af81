package dev.burrow.store;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import dev.burrow.core.testing.HostRequirements;

/**
 * The same store contract on a real PostgreSQL server: a throwaway cluster made with Debian's initdb,
 * listening on loopback only, one fresh database per test.
 */
class PostgresVmStoreTest extends VmStoreContractTest {
    static Path cluster;
    static int port;
    static Path bin;

    @BeforeAll
    static void startCluster() throws Exception {
        HostRequirements.requireRoot();
        bin = findBin();
        HostRequirements.require(bin != null, "PostgreSQL server binaries (Debian package postgresql)");
        cluster = Files.createTempDirectory("burrow-pg-");
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        run("chown", "postgres:postgres", cluster.toString());
        // initdb refuses to run as root, hence the postgres system user the package creates
        asPostgres(bin.resolve("initdb").toString(), "-D", cluster.resolve("data").toString(), "-A", "trust", "-U", "burrow");
        asPostgres(bin.resolve("pg_ctl").toString(), "-D", cluster.resolve("data").toString(), "-w", "-l",
                cluster.resolve("log").toString(), "-o", "-p " + port + " -k " + cluster + " -c listen_addresses=127.0.0.1 -c fsync=off",
                "start");
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster == null) return;
        try {
            asPostgres(bin.resolve("pg_ctl").toString(), "-D", cluster.resolve("data").toString(), "-m", "immediate", "stop");
        } finally {
            run("rm", "-rf", cluster.toString());
        }
    }

    @Override
    String jdbcUrl() throws Exception {
        String db = "t" + Long.toHexString(System.nanoTime());
        try (var c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=burrow")) {
            c.createStatement().execute("CREATE DATABASE " + db);
        }
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + db + "?user=burrow";
    }

    private static Path findBin() throws IOException {
        Path base = Path.of("/usr/lib/postgresql");
        if (!Files.isDirectory(base)) return null;
        try (var versions = Files.list(base)) {
            List<Path> bins = versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("initdb")))
                    .sorted().toList();
            return bins.isEmpty() ? null : bins.get(bins.size() - 1);
        }
    }

    private static void asPostgres(String... cmd) throws Exception {
        String[] full = new String[cmd.length + 4];
        full[0] = "runuser";
        full[1] = "-u";
        full[2] = "postgres";
        full[3] = "--";
        System.arraycopy(cmd, 0, full, 4, cmd.length);
        run(full);
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
