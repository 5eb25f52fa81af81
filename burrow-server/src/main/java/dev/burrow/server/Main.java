package dev.burrow.server;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import dev.burrow.server.cli.BenchCommand;
import dev.burrow.server.cli.VmCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code burrow <command>}: the server and the CLI share one entry point. */
@Command(name = "burrow", mixinStandardHelpOptions = true, version = BurrowServer.VERSION,
        description = "Self-hosted sandboxes for agents, workspaces and CI.",
        subcommands = {Main.Server.class, VmCommand.class, dev.burrow.server.cli.ImageCommand.class, BenchCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        // Logging must be configured before any logger exists, so this runs before picocli does anything.
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals("--log-format") && args[i + 1].equals("json")) {
                System.setProperty("logback.configurationFile", "logback-json.xml");
            }
        }
        int code = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
        if (code != 0 || !(args.length > 0 && args[0].equals("server"))) System.exit(code);
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    @Command(name = "server", description = "Run the Burrow server (HTTP API, drivers, background loops).",
            mixinStandardHelpOptions = true,
            sortOptions = false)
    static final class Server implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        ServerOptions options = new ServerOptions();
        @picocli.CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            ServerConfig cfg;
            try {
                cfg = options.toConfig(System.getenv("BURROW_API_KEY"));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            BurrowServer server = BurrowServer.start(cfg);
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                server.close();
                stopped.countDown();
            }, "shutdown"));
            System.out.println("Burrow " + BurrowServer.VERSION + " listening on " + server.url());
            System.out.println("Previews on port " + server.previewProxy().port()
                    + (server.previewProxy().tlsPort() > 0 ? " (HTTPS on port " + server.previewProxy().tlsPort() + ")" : ""));
            if (server.sshPort() > 0) System.out.println("SSH gateway on port " + server.sshPort() + " (ssh <vmId>:<token>@host -p " + server.sshPort() + ")");
            if (server.adminKeyFile() != null) {
                System.out.println("Admin API key: " + server.adminKeyFile().toAbsolutePath()
                        + " (export BURROW_API_KEY=$(cat " + server.adminKeyFile().toAbsolutePath() + "))");
            } else {
                System.out.println("Admin API key: from BURROW_API_KEY");
            }
            System.out.flush();
            stopped.await();
            return 0;
        }
    }

    /** Where the CLI finds the server and its key: flags, then environment, then the default data dir. */
    public static String resolveKey(String flag, Path dataDir) {
        if (flag != null) return flag;
        String env = System.getenv("BURROW_API_KEY");
        if (env != null && !env.isBlank()) return env;
        Path file = dataDir.resolve("admin-key");
        try {
            if (Files.isReadable(file)) return Files.readString(file).strip();
        } catch (java.io.IOException ignored) {
            // fall through to the error below
        }
        throw new CommandLine.ParameterException(new CommandLine(new Main()),
                "no API key: pass --api-key, set BURROW_API_KEY, or run from the directory holding data/admin-key");
    }
}
