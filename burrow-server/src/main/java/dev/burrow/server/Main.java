package dev.burrow.server;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import dev.burrow.server.cli.BenchCommand;
import dev.burrow.server.cli.VmCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

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

    @Command(name = "server", description = "Run the Burrow server (HTTP API, drivers, background loops).")
    static final class Server implements Callable<Integer> {
        @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default ${DEFAULT-VALUE}).")
        String host;
        @Option(names = "--port", defaultValue = "" + ServerConfig.DEFAULT_PORT, description = "HTTP port (default ${DEFAULT-VALUE}).")
        int port;
        @Option(names = "--data-dir", defaultValue = "./data", description = "State directory (default ${DEFAULT-VALUE}).")
        Path dataDir;
        @Option(names = "--database-url", description = "JDBC URL; default is SQLite in the data dir. PostgreSQL: jdbc:postgresql://host/db")
        String databaseUrl;
        @Option(names = "--database-user") String databaseUser;
        @Option(names = "--database-password") String databasePassword;
        @Option(names = "--image-dir", description = "Image cache (default <data-dir>/images).")
        Path imageDir;
        @Option(names = "--default-image", defaultValue = ServerConfig.DEFAULT_IMAGE,
                description = "Image of VMs created without one (default ${DEFAULT-VALUE}).")
        String defaultImage;
        @Option(names = "--log-format", defaultValue = "text", description = "text or json.")
        String logFormat;
        @Option(names = "--max-vms", defaultValue = "" + ServerConfig.Observability.DEFAULT_MAX_VMS,
                description = "Most VMs this node holds (every VM not deleted, stopped ones too); a create or fork past it gets 503 CAPACITY; also burrow_vm_capacity (default ${DEFAULT-VALUE}).")
        int maxVms;
        @Option(names = "--cpu-overcommit", defaultValue = "" + ServerConfig.Admission.DEFAULT_CPU_OVERCOMMIT,
                description = "vCPUs admitted per host CPU, summed over VMs with processes (running, suspended) (default ${DEFAULT-VALUE}).")
        double cpuOvercommit;
        @Option(names = "--memory-overcommit", defaultValue = "" + ServerConfig.Admission.DEFAULT_MEMORY_OVERCOMMIT,
                description = "MiB of VM memory limits admitted per MiB of host memory, summed over VMs with processes (default ${DEFAULT-VALUE}).")
        double memoryOvercommit;
        @Option(names = "--max-execs-per-vm", defaultValue = "" + ServerConfig.Admission.DEFAULT_MAX_EXECS_PER_VM,
                description = "Concurrent execs and processes (exec-await, process handles, terminals, SSH channels) per VM; more get 429 CAPACITY (0: no cap; default ${DEFAULT-VALUE}).")
        int maxExecsPerVm;
        @Option(names = "--max-execs", defaultValue = "" + ServerConfig.Admission.DEFAULT_MAX_EXECS,
                description = "Concurrent execs and processes on the whole node; more get 429 CAPACITY (0: no cap; default ${DEFAULT-VALUE}).")
        int maxExecs;
        @Option(names = "--vm-pids-max", defaultValue = "" + ServerConfig.Admission.DEFAULT_VM_PIDS_MAX,
                description = "pids.max of each VM: processes and threads it may have (default ${DEFAULT-VALUE}).")
        int vmPidsMax;
        @Option(names = "--node-pids-max", defaultValue = "0",
                description = "pids.max of all VMs together (the node's parent cgroup; 0: half the host's pid_max).")
        long nodePidsMax;
        @Option(names = "--otlp-endpoint", defaultValue = "${env:OTEL_EXPORTER_OTLP_ENDPOINT}",
                description = "Export traces by OTLP/HTTP to this collector URL, e.g. http://127.0.0.1:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT; unset: tracing off).")
        String otlpEndpoint;
        @Option(names = "--hibernate-after", defaultValue = "PT1H",
                description = "Hibernate VMs suspended and idle this long (ISO-8601 duration, e.g. PT30M; PT0S: never).")
        java.time.Duration hibernateAfter;
        @Option(names = "--stuck-limit", defaultValue = "PT10M",
                description = "Fail and clean a VM stuck in a transition this long (default ${DEFAULT-VALUE}).")
        java.time.Duration stuckLimit;
        @Option(names = "--orphan-grace", defaultValue = "PT60S",
                description = "Destroy host resources of unknown VMs after this long (default ${DEFAULT-VALUE}).")
        java.time.Duration orphanGrace;
        @Option(names = "--storage-quota-mb", defaultValue = "0",
                description = "Evict stopped/suspended sticky VMs when their disks exceed this many MiB (0: no quota).")
        long storageQuotaMb;
        @Option(names = "--storage", defaultValue = "auto",
                description = "Where VM disks live: auto (btrfs if possible, else overlay), btrfs or overlay.")
        String storage;
        @Option(names = "--btrfs-image-size-mb", defaultValue = "" + ServerConfig.Storage.DEFAULT_BTRFS_IMAGE_MB,
                description = "Size of the sparse btrfs loop image when the data dir is not btrfs (default ${DEFAULT-VALUE}).")
        long btrfsImageSizeMb;
        @Option(names = "--registry-auth-file",
                description = "containers-auth.json with credentials for private registries (as skopeo/docker login write).")
        Path registryAuthFile;
        @Option(names = "--insecure-registry", description = "host:port reached over plain HTTP; repeatable (loopback always is).")
        java.util.List<String> insecureRegistries;
        @Option(names = "--vm-network", defaultValue = "on",
                description = "on: each VM gets a routed address, NAT, DNS and an egress policy; off: loopback only (default ${DEFAULT-VALUE}).")
        String vmNetwork;
        @Option(names = "--vm-subnet",
                description = "IPv4 range of VM addresses, /12 to /28, e.g. 10.213.0.0/16 (default: the one recorded in the data dir, else a free /18 of 10.192.0.0/10).")
        String vmSubnet;
        @Option(names = "--vm-dns", description = "Upstream DNS server (host or host:port) of the VMs' DNS forwarder; repeatable (default: /etc/resolv.conf).")
        java.util.List<String> vmDns;
        @Option(names = "--vm-allow-private", paramLabel = "CIDR",
                description = "IPv4 range VMs may reach although it is private (RFC 1918, 100.64.0.0/10), link-local (169.254.0.0/16) or a network attached to the host; repeatable (default: none).")
        java.util.List<String> vmAllowPrivate;
        @Option(names = "--ssh-port", defaultValue = "" + ServerConfig.Ssh.DEFAULT_PORT,
                description = "Port of the SSH gateway (default ${DEFAULT-VALUE}; -1: off).")
        int sshPort;
        @Option(names = "--preview-port", defaultValue = "" + ServerConfig.Preview.DEFAULT_PORT,
                description = "Port of the preview proxy for exposed VM ports (default ${DEFAULT-VALUE}).")
        int previewPort;
        @Option(names = "--preview-host", description = "Address the preview proxy listens on (default: --host).")
        String previewHost;
        @Option(names = "--preview-domain", defaultValue = "localhost",
                description = "Base domain of previews: {port}-{vmId}.<domain> (needs wildcard DNS to this host; default ${DEFAULT-VALUE}).")
        String previewDomain;
        @Option(names = "--preview-tls-cert", description = "PEM certificate (chain) of the preview proxy's HTTPS listener; with --preview-tls-key.")
        java.nio.file.Path previewTlsCert;
        @Option(names = "--preview-tls-key", description = "PEM private key (PKCS#8, or PKCS#1 RSA; unencrypted) of --preview-tls-cert.")
        java.nio.file.Path previewTlsKey;
        @Option(names = "--preview-tls-dir",
                description = "Directory of per-domain certificates <domain>.crt + <domain>.key (a wildcard as *.<domain>.crt), chosen by SNI; read at start.")
        java.nio.file.Path previewTlsDir;
        @Option(names = "--preview-tls-port", defaultValue = "" + ServerConfig.Tls.DEFAULT_PORT,
                description = "Port of the preview proxy's HTTPS listener, on when a certificate is given (default ${DEFAULT-VALUE}).")
        int previewTlsPort;
        @Option(names = "--allowed-domain-suffix",
                description = "Custom domains that may be mapped to VMs: the domain or names under it; repeatable (default: any domain).")
        java.util.List<String> allowedDomainSuffixes;
        @Option(names = "--image-gc-after", defaultValue = "PT24H",
                description = "Delete cached images no VM or snapshot uses and no create used for this long (ISO-8601 duration; PT0S or off: never; default ${DEFAULT-VALUE}).")
        String imageGcAfter;
        @picocli.CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            String key = System.getenv("BURROW_API_KEY");
            ServerConfig cfg = new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword,
                    imageDir, defaultImage, key, true);
            if (maxVms < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--max-vms must be at least 1");
            if (otlpEndpoint != null && !otlpEndpoint.isBlank()) {
                try {
                    dev.burrow.server.tracing.Tracing.tracesUrl(otlpEndpoint);
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
                }
            }
            cfg = cfg.withObservability(new ServerConfig.Observability(maxVms, otlpEndpoint));
            try {
                cfg = cfg.withAdmission(new ServerConfig.Admission(cpuOvercommit, memoryOvercommit, maxExecsPerVm, maxExecs,
                        vmPidsMax, nodePidsMax));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            if (storageQuotaMb < 0 || hibernateAfter.isNegative() || stuckLimit.isNegative() || stuckLimit.isZero()
                    || orphanGrace.isNegative()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "durations and quotas must not be negative");
            }
            try {
                cfg = cfg.withStorage(new ServerConfig.Storage(storage, btrfsImageSizeMb));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            if (registryAuthFile != null && !java.nio.file.Files.isReadable(registryAuthFile)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--registry-auth-file is not readable: "
                        + registryAuthFile);
            }
            cfg = cfg.withRegistries(new ServerConfig.Registries(registryAuthFile == null ? null
                    : registryAuthFile.toAbsolutePath(), insecureRegistries == null ? null : java.util.Set.copyOf(insecureRegistries)));
            if (!vmNetwork.equals("on") && !vmNetwork.equals("off")) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--vm-network must be on or off");
            }
            if (vmSubnet != null) {
                try {
                    var c = dev.burrow.core.net.Ipv4Cidr.parse(vmSubnet);
                    if (c.prefix() < 12 || c.prefix() > 28) throw new IllegalArgumentException("prefix must be /12 to /28");
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "--vm-subnet: " + e.getMessage());
                }
            }
            try {
                cfg = cfg.withNetwork(new ServerConfig.Network(vmNetwork.equals("on"), vmSubnet, vmDns, vmAllowPrivate));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--vm-allow-private: " + e.getMessage());
            }
            try {
                var tls = previewTlsCert == null && previewTlsKey == null && previewTlsDir == null ? null
                        : new ServerConfig.Tls(previewTlsPort, previewTlsCert, previewTlsKey, previewTlsDir);
                if (tls != null) {
                    // fail on a bad certificate before anything starts
                    dev.burrow.server.proxy.PreviewTls.load(tls.cert(), tls.key(), tls.dir());
                }
                cfg = cfg.withPreview(new ServerConfig.Preview(previewHost, previewPort, previewDomain, tls,
                        allowedDomainSuffixes));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            var d = ServerConfig.Lifecycle.defaults();
            cfg = cfg.withLifecycle(new ServerConfig.Lifecycle(d.reconcileInterval(), orphanGrace, d.idleInterval(),
                    hibernateAfter.isZero() ? null : hibernateAfter, stuckLimit, storageQuotaMb * 1024 * 1024));
            java.time.Duration gcAfter;
            try {
                gcAfter = imageGcAfter.equalsIgnoreCase("off") || imageGcAfter.equals("0") ? null
                        : java.time.Duration.parse(imageGcAfter);
            } catch (java.time.format.DateTimeParseException e) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--image-gc-after must be an ISO-8601 duration such as PT24H, or off: " + imageGcAfter);
            }
            if (gcAfter != null && gcAfter.isNegative()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--image-gc-after must not be negative");
            }
            cfg = cfg.withImages(new ServerConfig.Images(gcAfter, ServerConfig.Images.defaults().gcInterval()));
            try {
                cfg = cfg.withSsh(new ServerConfig.Ssh(null, sshPort));
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
