package dev.burrow.server;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Set;

import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/**
 * The options of {@code burrow server}, one group per section of {@link ServerConfig} (and of {@code --help}). Each
 * group checks its own options and writes its own part of the configuration; a mistake is an
 * {@link IllegalArgumentException} whose message names the option, which the command turns into a usage error
 * before anything starts.
 */
final class ServerOptions {

    /** A section of the options: writes its part of the configuration. */
    interface Section {
        void applyTo(ServerConfig.Builder config);
    }

    @ArgGroup(validate = false, heading = "%nServer%n")
    Listen listen = new Listen();
    @ArgGroup(validate = false, heading = "%nDatabase%n")
    Database database = new Database();
    @ArgGroup(validate = false, heading = "%nImages%n")
    Images images = new Images();
    @ArgGroup(validate = false, heading = "%nStorage%n")
    Storage storage = new Storage();
    @ArgGroup(validate = false, heading = "%nCapacity and admission%n")
    Capacity capacity = new Capacity();
    @ArgGroup(validate = false, heading = "%nLifecycle%n")
    Lifecycle lifecycle = new Lifecycle();
    @ArgGroup(validate = false, heading = "%nVM networking%n")
    Network network = new Network();
    @ArgGroup(validate = false, heading = "%nPreviews: exposed ports, custom domains, HTTPS%n")
    Preview preview = new Preview();
    @ArgGroup(validate = false, heading = "%nSSH gateway%n")
    Ssh ssh = new Ssh();
    @ArgGroup(validate = false, heading = "%nObservability%n")
    Observability observability = new Observability();

    /** The configuration these options describe; {@code apiKey} null means the key file in the data dir. */
    ServerConfig toConfig(String apiKey) {
        ServerConfig.Builder config = new ServerConfig(ServerConfig.DEFAULT_HOST, ServerConfig.DEFAULT_PORT, Path.of("data"),
                null, null, null, null, ServerConfig.DEFAULT_IMAGE, apiKey, true).toBuilder();
        // Two options live in another section's record: the storage quota drives a lifecycle loop (the evictor) and
        // the VM cap is also the capacity the metrics report.
        lifecycle.storageQuotaMb = storage.quotaMb;
        observability.maxVms = capacity.maxVms;
        for (Section section : List.of(listen, database, images, storage, capacity, lifecycle, network, preview, ssh,
                observability)) {
            section.applyTo(config);
        }
        return config.build();
    }

    /** The log format must be known before any logger exists: {@link Main#main} reads it from the raw arguments. */
    static final class Listen implements Section {
        @Option(names = "--host", defaultValue = ServerConfig.DEFAULT_HOST, description = "Address to listen on (default ${DEFAULT-VALUE}).")
        String host = ServerConfig.DEFAULT_HOST;
        @Option(names = "--port", defaultValue = "" + ServerConfig.DEFAULT_PORT, description = "HTTP port (default ${DEFAULT-VALUE}).")
        int port = ServerConfig.DEFAULT_PORT;
        @Option(names = "--data-dir", defaultValue = "./data", description = "State directory (default ${DEFAULT-VALUE}).")
        Path dataDir = Path.of("./data");
        @Option(names = "--log-format", defaultValue = "text", description = "text or json (default ${DEFAULT-VALUE}).")
        String logFormat = "text";

        @Override
        public void applyTo(ServerConfig.Builder config) {
            if (!logFormat.equals("text") && !logFormat.equals("json")) {
                throw new IllegalArgumentException("--log-format must be text or json");
            }
            config.host(host).port(port).dataDir(dataDir);
        }
    }

    static final class Database implements Section {
        @Option(names = "--database-url", description = "JDBC URL; default is SQLite in the data dir. PostgreSQL: jdbc:postgresql://host/db")
        String url;
        @Option(names = "--database-user", description = "User of --database-url.")
        String user;
        @Option(names = "--database-password", description = "Password of --database-user.")
        String password;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            config.databaseUrl(url).databaseUser(user).databasePassword(password);
        }
    }

    static final class Images implements Section {
        @Option(names = "--image-dir", description = "Image cache (default <data-dir>/images).")
        Path imageDir;
        @Option(names = "--default-image", defaultValue = ServerConfig.DEFAULT_IMAGE,
                description = "Image of VMs created without one (default ${DEFAULT-VALUE}).")
        String defaultImage = ServerConfig.DEFAULT_IMAGE;
        @Option(names = "--registry-auth-file",
                description = "containers-auth.json with credentials for private registries (as skopeo/docker login write).")
        Path registryAuthFile;
        @Option(names = "--insecure-registry", description = "host:port reached over plain HTTP; repeatable (loopback always is).")
        List<String> insecureRegistries;
        @Option(names = "--image-gc-after", defaultValue = "PT24H",
                description = "Delete cached images no VM or snapshot uses and no create used for this long (ISO-8601 duration; PT0S or off: never; default ${DEFAULT-VALUE}).")
        String gcAfter = "PT24H";

        @Override
        public void applyTo(ServerConfig.Builder config) {
            if (registryAuthFile != null && !Files.isReadable(registryAuthFile)) {
                throw new IllegalArgumentException("--registry-auth-file is not readable: " + registryAuthFile);
            }
            Duration after;
            try {
                after = gcAfter.equalsIgnoreCase("off") || gcAfter.equals("0") ? null : Duration.parse(gcAfter);
            } catch (DateTimeParseException e) {
                throw new IllegalArgumentException("--image-gc-after must be an ISO-8601 duration such as PT24H, or off: "
                        + gcAfter);
            }
            if (after != null && after.isNegative()) throw new IllegalArgumentException("--image-gc-after must not be negative");
            config.imageDir(imageDir).defaultImage(defaultImage)
                    .registries(new ServerConfig.Registries(registryAuthFile == null ? null : registryAuthFile.toAbsolutePath(),
                            insecureRegistries == null ? null : Set.copyOf(insecureRegistries)))
                    .images(new ServerConfig.Images(after, ServerConfig.Images.defaults().gcInterval()));
        }
    }

    static final class Storage implements Section {
        @Option(names = "--storage", defaultValue = "auto",
                description = "Where VM disks live: auto (btrfs if possible, else overlay), btrfs or overlay (default ${DEFAULT-VALUE}).")
        String kind = "auto";
        @Option(names = "--btrfs-image-size-mb", defaultValue = "" + ServerConfig.Storage.DEFAULT_BTRFS_IMAGE_MB,
                description = "Size of the sparse btrfs loop image when the data dir is not btrfs (default ${DEFAULT-VALUE}).")
        long btrfsImageSizeMb = ServerConfig.Storage.DEFAULT_BTRFS_IMAGE_MB;
        @Option(names = "--storage-quota-mb", defaultValue = "0",
                description = "Evict stopped/suspended sticky VMs when their disks exceed this many MiB (0: no quota).")
        long quotaMb;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            config.storage(new ServerConfig.Storage(kind, btrfsImageSizeMb));
        }
    }

    static final class Capacity implements Section {
        @Option(names = "--max-vms", defaultValue = "" + ServerConfig.Observability.DEFAULT_MAX_VMS,
                description = "Most VMs this node holds (every VM not deleted, stopped ones too); a create or fork past it gets 503 CAPACITY; also burrow_vm_capacity (default ${DEFAULT-VALUE}).")
        int maxVms = ServerConfig.Observability.DEFAULT_MAX_VMS;
        @Option(names = "--cpu-overcommit", defaultValue = "" + ServerConfig.Admission.DEFAULT_CPU_OVERCOMMIT,
                description = "vCPUs admitted per host CPU, summed over VMs with processes (running, suspended) (default ${DEFAULT-VALUE}).")
        double cpuOvercommit = ServerConfig.Admission.DEFAULT_CPU_OVERCOMMIT;
        @Option(names = "--memory-overcommit", defaultValue = "" + ServerConfig.Admission.DEFAULT_MEMORY_OVERCOMMIT,
                description = "MiB of VM memory limits admitted per MiB of host memory, summed over VMs with processes (default ${DEFAULT-VALUE}).")
        double memoryOvercommit = ServerConfig.Admission.DEFAULT_MEMORY_OVERCOMMIT;
        @Option(names = "--max-execs-per-vm", defaultValue = "" + ServerConfig.Admission.DEFAULT_MAX_EXECS_PER_VM,
                description = "Concurrent execs and processes (exec-await, process handles, terminals, SSH channels) per VM; more get 429 CAPACITY (0: no cap; default ${DEFAULT-VALUE}).")
        int maxExecsPerVm = ServerConfig.Admission.DEFAULT_MAX_EXECS_PER_VM;
        @Option(names = "--max-execs", defaultValue = "" + ServerConfig.Admission.DEFAULT_MAX_EXECS,
                description = "Concurrent execs and processes on the whole node; more get 429 CAPACITY (0: no cap; default ${DEFAULT-VALUE}).")
        int maxExecs = ServerConfig.Admission.DEFAULT_MAX_EXECS;
        @Option(names = "--vm-pids-max", defaultValue = "" + ServerConfig.Admission.DEFAULT_VM_PIDS_MAX,
                description = "pids.max of each VM: processes and threads it may have (default ${DEFAULT-VALUE}).")
        int vmPidsMax = ServerConfig.Admission.DEFAULT_VM_PIDS_MAX;
        @Option(names = "--node-pids-max", defaultValue = "0",
                description = "pids.max of all VMs together (the node's parent cgroup; 0: half the host's pid_max).")
        long nodePidsMax;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            if (maxVms < 1) throw new IllegalArgumentException("--max-vms must be at least 1");
            config.admission(new ServerConfig.Admission(cpuOvercommit, memoryOvercommit, maxExecsPerVm, maxExecs,
                    vmPidsMax, nodePidsMax));
        }
    }

    static final class Lifecycle implements Section {
        @Option(names = "--hibernate-after", defaultValue = "PT1H",
                description = "Hibernate VMs suspended and idle this long (ISO-8601 duration, e.g. PT30M; PT0S: never; default ${DEFAULT-VALUE}).")
        Duration hibernateAfter = Duration.ofHours(1);
        @Option(names = "--stuck-limit", defaultValue = "PT10M",
                description = "Fail and clean a VM stuck in a transition this long (default ${DEFAULT-VALUE}).")
        Duration stuckLimit = Duration.ofMinutes(10);
        @Option(names = "--orphan-grace", defaultValue = "PT60S",
                description = "Destroy host resources of unknown VMs after this long (default ${DEFAULT-VALUE}).")
        Duration orphanGrace = Duration.ofSeconds(60);

        /** Also carries {@code --storage-quota-mb}: the storage evictor is one of the lifecycle loops. */
        long storageQuotaMb;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            if (storageQuotaMb < 0 || hibernateAfter.isNegative() || stuckLimit.isNegative() || stuckLimit.isZero()
                    || orphanGrace.isNegative()) {
                throw new IllegalArgumentException("durations and quotas must not be negative");
            }
            var d = ServerConfig.Lifecycle.defaults();
            config.lifecycle(new ServerConfig.Lifecycle(d.reconcileInterval(), orphanGrace, d.idleInterval(),
                    hibernateAfter.isZero() ? null : hibernateAfter, stuckLimit, storageQuotaMb * 1024 * 1024));
        }
    }

    static final class Network implements Section {
        @Option(names = "--vm-network", defaultValue = "on",
                description = "on: each VM gets a routed address, NAT, DNS and an egress policy; off: loopback only (default ${DEFAULT-VALUE}).")
        String mode = "on";
        @Option(names = "--vm-subnet",
                description = "IPv4 range of VM addresses, /12 to /28, e.g. 10.213.0.0/16 (default: the one recorded in the data dir, else a free /18 of 10.192.0.0/10).")
        String subnet;
        @Option(names = "--vm-dns", description = "Upstream DNS server (host or host:port) of the VMs' DNS forwarder; repeatable (default: /etc/resolv.conf).")
        List<String> dns;
        @Option(names = "--vm-allow-private", paramLabel = "CIDR",
                description = "IPv4 range VMs may reach although it is private (RFC 1918, 100.64.0.0/10), link-local (169.254.0.0/16) or a network attached to the host; repeatable (default: none).")
        List<String> allowPrivate;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            if (!mode.equals("on") && !mode.equals("off")) throw new IllegalArgumentException("--vm-network must be on or off");
            if (subnet != null) {
                try {
                    var c = dev.burrow.core.net.Ipv4Cidr.parse(subnet);
                    if (c.prefix() < 12 || c.prefix() > 28) throw new IllegalArgumentException("prefix must be /12 to /28");
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("--vm-subnet: " + e.getMessage());
                }
            }
            try {
                config.network(new ServerConfig.Network(mode.equals("on"), subnet, dns, allowPrivate));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--vm-allow-private: " + e.getMessage());
            }
        }
    }

    static final class Preview implements Section {
        @Option(names = "--preview-port", defaultValue = "" + ServerConfig.Preview.DEFAULT_PORT,
                description = "Port of the preview proxy for exposed VM ports (default ${DEFAULT-VALUE}).")
        int port = ServerConfig.Preview.DEFAULT_PORT;
        @Option(names = "--preview-host", description = "Address the preview proxy listens on (default: --host).")
        String host;
        @Option(names = "--preview-domain", defaultValue = "localhost",
                description = "Base domain of previews: {port}-{vmId}.<domain> (needs wildcard DNS to this host; default ${DEFAULT-VALUE}).")
        String domain = "localhost";
        @Option(names = "--preview-tls-cert", description = "PEM certificate (chain) of the preview proxy's HTTPS listener; with --preview-tls-key.")
        Path tlsCert;
        @Option(names = "--preview-tls-key", description = "PEM private key (PKCS#8, or PKCS#1 RSA; unencrypted) of --preview-tls-cert.")
        Path tlsKey;
        @Option(names = "--preview-tls-dir",
                description = "Directory of per-domain certificates <domain>.crt + <domain>.key (a wildcard as *.<domain>.crt), chosen by SNI; read at start.")
        Path tlsDir;
        @Option(names = "--preview-tls-port", defaultValue = "" + ServerConfig.Tls.DEFAULT_PORT,
                description = "Port of the preview proxy's HTTPS listener, on when a certificate is given (default ${DEFAULT-VALUE}).")
        int tlsPort = ServerConfig.Tls.DEFAULT_PORT;
        @Option(names = "--allowed-domain-suffix",
                description = "Custom domains that may be mapped to VMs: the domain or names under it; repeatable (default: any domain).")
        List<String> allowedDomainSuffixes;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            var tls = tlsCert == null && tlsKey == null && tlsDir == null ? null
                    : new ServerConfig.Tls(tlsPort, tlsCert, tlsKey, tlsDir);
            if (tls != null) {
                // fail on a bad certificate before anything starts
                dev.burrow.server.proxy.PreviewTls.load(tls.cert(), tls.key(), tls.dir());
            }
            config.preview(new ServerConfig.Preview(host, port, domain, tls, allowedDomainSuffixes));
        }
    }

    static final class Ssh implements Section {
        @Option(names = "--ssh-port", defaultValue = "" + ServerConfig.Ssh.DEFAULT_PORT,
                description = "Port of the SSH gateway (default ${DEFAULT-VALUE}; -1: off).")
        int port = ServerConfig.Ssh.DEFAULT_PORT;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            config.ssh(new ServerConfig.Ssh(null, port));
        }
    }

    static final class Observability implements Section {
        @Option(names = "--otlp-endpoint", defaultValue = "${env:OTEL_EXPORTER_OTLP_ENDPOINT}",
                description = "Export traces by OTLP/HTTP to this collector URL, e.g. http://127.0.0.1:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT; unset: tracing off).")
        String otlpEndpoint;

        /** {@code --max-vms} is set by the capacity section: it is also the capacity metrics compare with. */
        int maxVms = ServerConfig.Observability.DEFAULT_MAX_VMS;

        @Override
        public void applyTo(ServerConfig.Builder config) {
            if (otlpEndpoint != null && !otlpEndpoint.isBlank()) dev.burrow.server.tracing.Tracing.tracesUrl(otlpEndpoint);
            config.observability(new ServerConfig.Observability(maxVms, otlpEndpoint));
        }
    }
}
