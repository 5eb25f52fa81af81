package dev.burrow.server;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything {@code burrow server} can be told. {@code databaseUrl} null means the embedded SQLite file in
 * the data dir; {@code imageDir} null means {@code <dataDir>/images}.
 */
public record ServerConfig(String host, int port, Path dataDir, String databaseUrl, String databaseUser,
                           String databasePassword, Path imageDir, String defaultImage, String apiKey,
                           boolean prewarmDefaultImage, Lifecycle lifecycle, Observability observability,
                           Storage storage, Registries registries, Network network, Ssh ssh, Preview preview,
                           Images images, Admission admission) {

    /**
     * What the node admits (the VM count is {@link Observability#maxVms()}, {@code --max-vms}): vCPUs and memory of VMs
     * with processes up to the host's CPUs and memory times {@code cpuOvercommit} / {@code memoryOvercommit};
     * concurrent execs and spawned processes per VM and per node (0: no cap); the default pids.max of a VM
     * ({@code vmPidsMax}) and of all VMs together ({@code nodePidsMax}; 0: half the host's pid_max).
     */
    public record Admission(double cpuOvercommit, double memoryOvercommit, int maxExecsPerVm, int maxExecs,
                            int vmPidsMax, long nodePidsMax) {
        public static final double DEFAULT_CPU_OVERCOMMIT = 8;
        public static final double DEFAULT_MEMORY_OVERCOMMIT = 1.5;
        public static final int DEFAULT_MAX_EXECS_PER_VM = 32;
        public static final int DEFAULT_MAX_EXECS = 256;
        public static final int DEFAULT_VM_PIDS_MAX = 1024;

        public Admission {
            if (!(cpuOvercommit > 0) || cpuOvercommit > 100_000) {
                throw new IllegalArgumentException("--cpu-overcommit must be a positive number, got " + cpuOvercommit);
            }
            if (!(memoryOvercommit > 0) || memoryOvercommit > 100_000) {
                throw new IllegalArgumentException("--memory-overcommit must be a positive number, got " + memoryOvercommit);
            }
            if (maxExecsPerVm < 0 || maxExecs < 0) {
                throw new IllegalArgumentException("--max-execs-per-vm and --max-execs must not be negative");
            }
            if (vmPidsMax < 16) throw new IllegalArgumentException("--vm-pids-max must be at least 16, got " + vmPidsMax);
            if (nodePidsMax < 0) throw new IllegalArgumentException("--node-pids-max must not be negative, got " + nodePidsMax);
        }

        public static Admission defaults() {
            return new Admission(DEFAULT_CPU_OVERCOMMIT, DEFAULT_MEMORY_OVERCOMMIT, DEFAULT_MAX_EXECS_PER_VM,
                    DEFAULT_MAX_EXECS, DEFAULT_VM_PIDS_MAX, 0);
        }
    }

    /**
     * The image cache's garbage collection: cached images no VM or snapshot uses and that no create used for
     * {@code gcAfter} are deleted (null: never), checked every {@code gcInterval}.
     */
    public record Images(Duration gcAfter, Duration gcInterval) {
        public Images {
            if (gcAfter != null && (gcAfter.isNegative() || gcAfter.isZero())) gcAfter = null;
            if (gcInterval == null || gcInterval.isNegative() || gcInterval.isZero()) gcInterval = Duration.ofMinutes(5);
        }

        public static Images defaults() {
            return new Images(Duration.ofHours(24), Duration.ofMinutes(5));
        }
    }

    /**
     * The preview proxy for exposed ports: where it listens ({@code host} null: the API's host; {@code port} 0: any
     * free port) and the base domain of host-routed previews, {@code {port}-{vmId}.{baseDomain}} (browsers resolve
     * {@code *.localhost} to loopback, so the default works locally without DNS). {@code tls} null: plain HTTP only.
     * {@code allowedDomainSuffixes}: the custom domains that may be mapped to VMs (a domain equal to or under one of
     * them); empty: any.
     */
    public record Preview(String host, int port, String baseDomain, Tls tls, java.util.List<String> allowedDomainSuffixes) {
        public static final int DEFAULT_PORT = 8701;

        public Preview {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("--preview-port must be 0-65535, got " + port);
            if (baseDomain == null || !baseDomain.matches("[A-Za-z0-9]([A-Za-z0-9.-]{0,250}[A-Za-z0-9])?")) {
                throw new IllegalArgumentException("--preview-domain must be a domain name, got " + baseDomain);
            }
            allowedDomainSuffixes = allowedDomainSuffixes == null ? java.util.List.of()
                    : allowedDomainSuffixes.stream().map(d -> d.toLowerCase(java.util.Locale.ROOT).replaceAll("^\\.+|\\.+$", ""))
                            .toList();
            for (String d : allowedDomainSuffixes) {
                if (!d.matches("[a-z0-9]([a-z0-9.-]{0,250}[a-z0-9])?")) {
                    throw new IllegalArgumentException("--allowed-domain-suffix must be a domain name, got " + d);
                }
            }
        }

        public Preview(String host, int port, String baseDomain) {
            this(host, port, baseDomain, null, null);
        }

        public Preview withTls(Tls t) {
            return new Preview(host, port, baseDomain, t, allowedDomainSuffixes);
        }

        public Preview withAllowedDomainSuffixes(java.util.List<String> suffixes) {
            return new Preview(host, port, baseDomain, tls, suffixes);
        }

        public static Preview defaults() {
            return new Preview(null, 0, "localhost");
        }
    }

    /**
     * HTTPS on the preview proxy, on a listener of its own ({@code port}; 0: any free port). {@code cert}/{@code key}
     * (PEM; the key PKCS#8, unencrypted) are the default certificate; {@code dir} holds per-domain ones as
     * {@code <domain>.crt} + {@code <domain>.key} (a wildcard as {@code *.<domain>.crt}), picked by SNI. At least one
     * of the two must be given; without a default, a client whose name matches no file fails the handshake.
     */
    public record Tls(int port, java.nio.file.Path cert, java.nio.file.Path key, java.nio.file.Path dir) {
        public static final int DEFAULT_PORT = 8702;

        public Tls {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("--preview-tls-port must be 0-65535, got " + port);
            if ((cert == null) != (key == null)) {
                throw new IllegalArgumentException("--preview-tls-cert and --preview-tls-key go together");
            }
            if (cert == null && dir == null) {
                throw new IllegalArgumentException("TLS on the preview proxy needs --preview-tls-cert/--preview-tls-key or --preview-tls-dir");
            }
        }
    }

    /**
     * VM networking: {@code enabled} false gives VMs a loopback-only namespace (no veth, no nftables needed);
     * {@code subnet} null means the range recorded in the data dir, or on first start a free /18 picked from
     * 10.192.0.0/10 (so servers sharing a host do not collide); {@code dnsUpstreams} empty means the host's
     * {@code /etc/resolv.conf} nameservers; {@code allowPrivate} are IPv4 CIDRs VMs may reach although they are
     * private, link-local or attached to the host ({@code --vm-allow-private}), normalized here (a bad one is an
     * {@link IllegalArgumentException}).
     */
    public record Network(boolean enabled, String subnet, java.util.List<String> dnsUpstreams, java.util.List<String> allowPrivate) {
        public Network {
            dnsUpstreams = dnsUpstreams == null ? java.util.List.of() : java.util.List.copyOf(dnsUpstreams);
            allowPrivate = allowPrivate == null ? java.util.List.of()
                    : allowPrivate.stream().map(c -> dev.burrow.core.net.Ipv4Cidr.parse(c.strip()).toString()).distinct().toList();
        }

        public static Network defaults() {
            return new Network(true, null, java.util.List.of(), java.util.List.of());
        }
    }

    /** The SSH gateway: {@code port} 0 picks a free port, -1 turns the gateway off; {@code host} null: the API's host. */
    public record Ssh(String host, int port) {
        public static final int DEFAULT_PORT = 2222;

        public Ssh {
            if (port < -1 || port > 65535) throw new IllegalArgumentException("--ssh-port must be -1 (off) or 0-65535, got " + port);
        }

        /** Off unless asked for: tests and embedded use start several servers on one host. */
        public static Ssh defaults() {
            return new Ssh(null, -1);
        }

        public boolean enabled() {
            return port >= 0;
        }
    }

    /**
     * How images are pulled: {@code authFile} is a containers-auth.json ({@code {"auths": {"host:port":
     * {"auth": base64(user:password)}}}}, the format {@code skopeo login} and {@code docker login} write) for
     * private registries, or null; {@code insecure} lists registries reached over plain HTTP (loopback ones
     * always are).
     */
    public record Registries(Path authFile, java.util.Set<String> insecure) {
        public Registries {
            insecure = insecure == null ? java.util.Set.of() : java.util.Set.copyOf(insecure);
        }

        public static Registries defaults() {
            return new Registries(null, java.util.Set.of());
        }
    }

    /**
     * Where VM disks live: {@code auto} (btrfs when it can be set up, else overlay), {@code btrfs} or
     * {@code overlay}; {@code btrfsImageSizeMb} sizes the sparse loop image when the data dir is not btrfs.
     */
    public record Storage(String kind, long btrfsImageSizeMb) {
        public static final long DEFAULT_BTRFS_IMAGE_MB = 64L * 1024;

        public Storage {
            if (!java.util.Set.of("auto", "btrfs", "overlay").contains(kind)) {
                throw new IllegalArgumentException("--storage must be auto, btrfs or overlay, got " + kind);
            }
            if (btrfsImageSizeMb < 256) throw new IllegalArgumentException("--btrfs-image-size-mb must be at least 256");
        }

        public static Storage defaults() {
            return new Storage("auto", DEFAULT_BTRFS_IMAGE_MB);
        }
    }

    /**
     * Metrics and traces: {@code maxVms} is the most VMs this node holds (every VM not deleted, stopped ones too;
     * a create or fork past it is refused with 503 {@code CAPACITY}) and the capacity the near-capacity alert
     * compares active VMs with (exported as {@code burrow_vm_capacity}); {@code otlpEndpoint} null means
     * tracing off.
     */
    public record Observability(int maxVms, String otlpEndpoint) {
        public static final int DEFAULT_MAX_VMS = 100;

        public Observability {
            if (maxVms < 1) throw new IllegalArgumentException("--max-vms must be at least 1, got " + maxVms);
        }

        public static Observability defaults() {
            return new Observability(DEFAULT_MAX_VMS, null);
        }
    }

    /**
     * Background-loop settings: how often the reconciler and the idle checker run, how long an orphan is
     * left alone before it is destroyed, after how long a suspended idle VM is hibernated (null: never),
     * how long a VM may stay in a transitional status before it is failed and cleaned, and the disk quota
     * over which sticky VMs are evicted (0: none).
     */
    public record Lifecycle(Duration reconcileInterval, Duration orphanGrace, Duration idleInterval,
                            Duration hibernateAfter, Duration stuckLimit, long storageQuotaBytes) {
        public static Lifecycle defaults() {
            return new Lifecycle(Duration.ofSeconds(15), Duration.ofSeconds(60), Duration.ofSeconds(5),
                    Duration.ofHours(1), Duration.ofMinutes(10), 0);
        }
    }

    public ServerConfig(String host, int port, Path dataDir, String databaseUrl, String databaseUser,
                        String databasePassword, Path imageDir, String defaultImage, String apiKey,
                        boolean prewarmDefaultImage) {
        this(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir, defaultImage, apiKey,
                prewarmDefaultImage, Lifecycle.defaults(), Observability.defaults(), Storage.defaults(),
                Registries.defaults(), Network.defaults(), Ssh.defaults(), Preview.defaults(), Images.defaults(),
                Admission.defaults());
    }

    public ServerConfig withLifecycle(Lifecycle lifecycle) {
        return toBuilder().lifecycle(lifecycle).build();
    }

    public ServerConfig withObservability(Observability observability) {
        return toBuilder().observability(observability).build();
    }

    public ServerConfig withStorage(Storage storage) {
        return toBuilder().storage(storage).build();
    }

    public ServerConfig withRegistries(Registries registries) {
        return toBuilder().registries(registries).build();
    }

    public ServerConfig withNetwork(Network network) {
        return toBuilder().network(network).build();
    }

    public ServerConfig withSsh(Ssh ssh) {
        return toBuilder().ssh(ssh).build();
    }

    public ServerConfig withImages(Images images) {
        return toBuilder().images(images).build();
    }

    public ServerConfig withAdmission(Admission admission) {
        return toBuilder().admission(admission).build();
    }

    public ServerConfig withPreview(Preview preview) {
        return toBuilder().preview(preview).build();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** A copy with some parts changed; a new part of the configuration is added here once, not in every with* method. */
    public static final class Builder {
        private String host;
        private int port;
        private Path dataDir;
        private String databaseUrl;
        private String databaseUser;
        private String databasePassword;
        private Path imageDir;
        private String defaultImage;
        private String apiKey;
        private boolean prewarmDefaultImage;
        private Lifecycle lifecycle;
        private Observability observability;
        private Storage storage;
        private Registries registries;
        private Network network;
        private Ssh ssh;
        private Preview preview;
        private Images images;
        private Admission admission;

        private Builder(ServerConfig c) {
            host = c.host;
            port = c.port;
            dataDir = c.dataDir;
            databaseUrl = c.databaseUrl;
            databaseUser = c.databaseUser;
            databasePassword = c.databasePassword;
            imageDir = c.imageDir;
            defaultImage = c.defaultImage;
            apiKey = c.apiKey;
            prewarmDefaultImage = c.prewarmDefaultImage;
            lifecycle = c.lifecycle;
            observability = c.observability;
            storage = c.storage;
            registries = c.registries;
            network = c.network;
            ssh = c.ssh;
            preview = c.preview;
            images = c.images;
            admission = c.admission;
        }

        public Builder admission(Admission v) {
            admission = v;
            return this;
        }

        public Builder host(String v) {
            host = v;
            return this;
        }

        public Builder port(int v) {
            port = v;
            return this;
        }

        public Builder dataDir(Path v) {
            dataDir = v;
            return this;
        }

        public Builder databaseUrl(String v) {
            databaseUrl = v;
            return this;
        }

        public Builder databaseUser(String v) {
            databaseUser = v;
            return this;
        }

        public Builder databasePassword(String v) {
            databasePassword = v;
            return this;
        }

        public Builder imageDir(Path v) {
            imageDir = v;
            return this;
        }

        public Builder defaultImage(String v) {
            defaultImage = v;
            return this;
        }

        public Builder apiKey(String v) {
            apiKey = v;
            return this;
        }

        public Builder prewarmDefaultImage(boolean v) {
            prewarmDefaultImage = v;
            return this;
        }

        public Builder lifecycle(Lifecycle v) {
            lifecycle = v;
            return this;
        }

        public Builder observability(Observability v) {
            observability = v;
            return this;
        }

        public Builder storage(Storage v) {
            storage = v;
            return this;
        }

        public Builder registries(Registries v) {
            registries = v;
            return this;
        }

        public Builder network(Network v) {
            network = v;
            return this;
        }

        public Builder ssh(Ssh v) {
            ssh = v;
            return this;
        }

        public Builder images(Images v) {
            images = v;
            return this;
        }

        public Builder preview(Preview v) {
            preview = v;
            return this;
        }

        public ServerConfig build() {
            return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir, defaultImage, apiKey, prewarmDefaultImage, lifecycle, observability, storage, registries, network, ssh, preview, images, admission);
        }
    }

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 8700;
    public static final String DEFAULT_IMAGE = "builtin:debian";

    public Path resolvedImageDir() {
        return imageDir != null ? imageDir : dataDir.resolve("images");
    }

    public String resolvedDatabaseUrl() {
        return databaseUrl != null ? databaseUrl : "jdbc:sqlite:" + dataDir.resolve("burrow.db").toAbsolutePath();
    }
}
