package dev.burrow.store;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.List;
import java.util.concurrent.TimeUnit;

import dev.burrow.core.testing.HostRequirements;

/**
 * A throwaway PostgreSQL cluster made with Debian's initdb, listening on loopback only, for the store contract
 * tests: {@link #newDatabase()} gives each test a fresh database.
 */
final class PostgresCluster implements AutoCloseable {
    private final Path dir;
    private final Path bin;
    private final int port;

    private PostgresCluster(Path dir, Path bin, int port) {
        this.dir = dir;
        this.bin = bin;
        this.port = port;
    }

    static PostgresCluster start() throws Exception {
        HostRequirements.requireRoot();
        Path bin = findBin();
        HostRequirements.require(bin != null, "PostgreSQL server binaries (Debian package postgresql)");
        Path dir = Files.createTempDirectory("burrow-pg-");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        var cluster = new PostgresCluster(dir, bin, port);
        run("chown", "postgres:postgres", dir.toString());
        // initdb refuses to run as root, hence the postgres system user the package creates
        cluster.asPostgres(bin.resolve("initdb").toString(), "-D", dir.resolve("data").toString(), "-A", "trust", "-U", "burrow");
        cluster.asPostgres(bin.resolve("pg_ctl").toString(), "-D", dir.resolve("data").toString(), "-w", "-l",
                dir.resolve("log").toString(), "-o", "-p " + port + " -k " + dir + " -c listen_addresses=127.0.0.1 -c fsync=off",
                "start");
        return cluster;
    }

    /** A JDBC URL of a new, empty database. */
    String newDatabase() throws Exception {
        String db = "t" + Long.toHexString(System.nanoTime());
        try (var c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=burrow")) {
            c.createStatement().execute("CREATE DATABASE " + db);
        }
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + db + "?user=burrow";
    }

    @Override
    public void close() throws Exception {
        try {
            asPostgres(bin.resolve("pg_ctl").toString(), "-D", dir.resolve("data").toString(), "-m", "immediate", "stop");
        } finally {
            run("rm", "-rf", dir.toString());
        }
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

    private void asPostgres(String... cmd) throws Exception {
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
