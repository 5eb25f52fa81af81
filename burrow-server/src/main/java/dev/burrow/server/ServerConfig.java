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
                           Storage storage, Registries registries, Network network, Ssh ssh, Preview preview) {

    /**
     * The preview proxy for exposed ports: where it listens ({@code host} null: the API's host; {@code port} 0: any
     * free port) and the base domain of host-routed previews, {@code {port}-{vmId}.{baseDomain}} (browsers resolve
     * {@code *.localhost} to loopback, so the default works locally without DNS).
     */
    public record Preview(String host, int port, String baseDomain) {
        public static final int DEFAULT_PORT = 8701;

        public Preview {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("--preview-port must be 0-65535, got " + port);
            if (baseDomain == null || !baseDomain.matches("[A-Za-z0-9]([A-Za-z0-9.-]{0,250}[A-Za-z0-9])?")) {
                throw new IllegalArgumentException("--preview-domain must be a domain name, got " + baseDomain);
            }
        }

        public static Preview defaults() {
            return new Preview(null, 0, "localhost");
        }
    }

    /**
     * VM networking: {@code enabled} false gives VMs a loopback-only namespace (no bridge, no nftables needed);
     * {@code subnet} null means the range recorded in the data dir, or on first start a free /20 picked from
     * 10.192.0.0/10 (so servers sharing a host do not collide); {@code dnsUpstreams} empty means the host's
     * {@code /etc/resolv.conf} nameservers.
     */
    public record Network(boolean enabled, String subnet, java.util.List<String> dnsUpstreams) {
        public Network {
            dnsUpstreams = dnsUpstreams == null ? java.util.List.of() : java.util.List.copyOf(dnsUpstreams);
        }

        public static Network defaults() {
            return new Network(true, null, java.util.List.of());
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
     * Metrics and traces: {@code maxVms} is the capacity the near-capacity alert compares active VMs with
     * (exported as {@code burrow_vm_capacity}; not enforced on create); {@code otlpEndpoint} null means
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
                Registries.defaults(), Network.defaults(), Ssh.defaults(), Preview.defaults());
    }

    public ServerConfig withLifecycle(Lifecycle l) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, l, observability, storage, registries, network, ssh, preview);
    }

    public ServerConfig withObservability(Observability o) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, lifecycle, o, storage, registries, network, ssh, preview);
    }

    public ServerConfig withStorage(Storage st) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, lifecycle, observability, st, registries, network, ssh, preview);
    }

    public ServerConfig withRegistries(Registries r) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, lifecycle, observability, storage, r, network, ssh, preview);
    }

    public ServerConfig withNetwork(Network n) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, lifecycle, observability, storage, registries, n, ssh, preview);
    }

    public ServerConfig withSsh(Ssh sh) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, lifecycle, observability, storage, registries, network, sh, preview);
    }

    public ServerConfig withPreview(Preview p) {
        return new ServerConfig(host, port, dataDir, databaseUrl, databaseUser, databasePassword, imageDir,
                defaultImage, apiKey, prewarmDefaultImage, lifecycle, observability, storage, registries, network, ssh, p);
    }

    public static final int DEFAULT_PORT = 8700;
    public static final String DEFAULT_IMAGE = "builtin:debian";

    public Path resolvedImageDir() {
        return imageDir != null ? imageDir : dataDir.resolve("images");
    }

    public String resolvedDatabaseUrl() {
        return databaseUrl != null ? databaseUrl : "jdbc:sqlite:" + dataDir.resolve("burrow.db").toAbsolutePath();
    }
}
