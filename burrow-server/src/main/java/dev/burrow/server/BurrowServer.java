package dev.burrow.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.HexFormat;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.access.Identities;
import dev.burrow.core.access.VmAccess;
import dev.burrow.core.driver.DriverContext;
import dev.burrow.core.driver.DriverProvider;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.image.ImageCache;
import dev.burrow.core.loop.IdleSuspender;
import dev.burrow.core.loop.ServiceSupervisor;
import dev.burrow.core.service.ServiceManager;
import dev.burrow.server.http.SystemdApi;
import dev.burrow.core.loop.LoopRunner;
import dev.burrow.core.loop.Reconciler;
import dev.burrow.core.loop.StorageEvictor;
import dev.burrow.core.loop.StuckTransitionSweeper;
import dev.burrow.server.http.EventBroadcaster;
import dev.burrow.core.store.ApiKeyStore;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.Stores;
import dev.burrow.core.store.VmStore;
import dev.burrow.server.http.ApiServer;
import dev.burrow.server.http.NetworkApi;
import dev.burrow.server.http.Readiness;
import dev.burrow.server.logging.TransitionLog;
import dev.burrow.server.metrics.BurrowMetrics;
import dev.burrow.server.metrics.MeteredDriver;
import dev.burrow.server.tracing.Tracing;
import dev.burrow.server.http.Auth;
import dev.burrow.server.http.IdentityApi;
import dev.burrow.server.http.ProcessApi;
import dev.burrow.server.http.TerminalApi;
import dev.burrow.core.process.ProcessManager;
import dev.burrow.core.process.TerminalManager;
import dev.burrow.store.Database;
import dev.burrow.store.SqlIdentityStore;
import dev.burrow.store.SqlVmStore;

/** Constructor wiring of the whole server, in one place. */
public final class BurrowServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BurrowServer.class);
    public static final String VERSION = "0.1.0";
    /** The sandbox driver this server runs VMs with, found by name through {@link DriverProvider}. */
    private static final String DRIVER = "runc";

    private final ServerConfig config;
    private final Database database;
    private final SandboxDriver driver;
    private final LifecycleCoordinator lifecycle;
    private final LoopRunner loops;
    private final ServiceManager services;
    /**
     * How often the host looks at services (deleteAfterSuccess, requires, lost supervisors); restarts do not wait
     * for it, the supervisors in the VMs apply them.
     */
    private static final java.time.Duration SERVICE_SUPERVISION_INTERVAL = java.time.Duration.ofSeconds(2);
    private final Reconciler reconciler;
    private final EventBroadcaster events;
    private final ProcessManager processes;
    private final TerminalManager terminals;
    private final VmStore store;
    private final SnapshotStore snapshots;
    private final dev.burrow.core.store.NodeStore nodes;
    private final Identities identities;
    private final ApiServer api;
    private final dev.burrow.server.proxy.PreviewProxy previewProxy;
    private final dev.burrow.server.proxy.DomainMappings domains;
    /** Null when the gateway is off. */
    private final dev.burrow.server.ssh.SshGateway ssh;
    private final BurrowMetrics metrics;
    private final Tracing tracing;
    private final Readiness readiness;
    private final Path adminKeyFile;
    private final String adminKey;
    private final String nodeId;
    /** Everything opened, closed in reverse by {@link #close} — and by {@link #start} when a later part fails. */
    private final OpenedResources opened;

    /**
     * What a server runs on instead of the ones it opens itself (the runc driver, the database named by the
     * config): the HTTP test harness hands in a fake driver and in-memory stores. The server closes the driver.
     */
    public record Backend(SandboxDriver driver, Stores stores) {
        public Backend {
            java.util.Objects.requireNonNull(driver, "driver");
            java.util.Objects.requireNonNull(stores, "stores");
        }
    }

    private BurrowServer(ServerConfig config, Backend backend, OpenedResources opened) {
        this.config = config;
        this.opened = opened;
        Path dataDir = config.dataDir().toAbsolutePath().normalize();
        try {
            Files.createDirectories(dataDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create data dir " + dataDir, e);
        }
        this.nodeId = readOrCreate(dataDir.resolve("node-id"), () -> randomId(8), false);
        Stores stores;
        if (backend == null) {
            this.database = opened.open("database",
                    Database.open(config.resolvedDatabaseUrl(), config.databaseUser(), config.databasePassword()));
            SqlVmStore sql = new SqlVmStore(database);
            stores = new Stores(sql, sql, sql, new SqlIdentityStore(database), new dev.burrow.store.SqlDomainStore(database),
                    new dev.burrow.store.SqlNodeStore(database));
        } else {
            this.database = null;
            stores = backend.stores();
        }
        VmStore store = stores.vms();
        this.store = store;
        this.snapshots = stores.snapshots();
        this.nodes = stores.nodes();
        if (config.apiKey() != null && !config.apiKey().isBlank()) {
            this.adminKey = config.apiKey();
            this.adminKeyFile = null;
        } else {
            this.adminKeyFile = dataDir.resolve("admin-key");
            this.adminKey = readOrCreate(adminKeyFile, () -> "bk_" + randomHex(24), true);
        }
        stores.apiKeys().upsert(new ApiKeyStore.ApiKey("admin", "admin", Auth.sha256(adminKey), true));

        // Observability before the parts that report to it (driver, coordinator, loops, API).
        this.tracing = Tracing.of(config.observability().otlpEndpoint(), VERSION, nodeId);
        opened.opened("tracing", tracing::close); // closed after everything that reports spans: flushes them
        this.metrics = new BurrowMetrics(
                () -> store.list(dev.burrow.core.store.VmQuery.all()),
                config.observability().maxVms());
        opened.opened("metrics", metrics::close);
        var admit = config.admission();
        // all VMs together stay under half the host's pid_max unless the operator says otherwise, so the host keeps
        // room for its own processes however many VMs fork
        long nodePids = admit.nodePidsMax() > 0 ? admit.nodePidsMax() : Math.max(1024, HostInfo.pidMax() / 2);
        if (admit.vmPidsMax() > nodePids) {
            throw new IllegalArgumentException("--vm-pids-max (" + admit.vmPidsMax() + ") must not exceed --node-pids-max ("
                    + nodePids + ")");
        }
        // host paths no error message may show: the data and image dirs, and the driver's own state dirs
        var hostPaths = new java.util.ArrayList<>(java.util.List.of(dataDir, config.resolvedImageDir()));
        SandboxDriver base;
        if (backend == null) {
            // the driver by name, through its provider: the server knows none of its classes
            var driverProvider = DriverProvider.named(DRIVER);
            var driverContext = new DriverContext(dataDir, config.resolvedImageDir().toAbsolutePath(), nodeId,
                    driverOptions(config, admit.vmPidsMax(), nodePids));
            base = driverProvider.open(driverContext);
            hostPaths.addAll(driverProvider.hostPaths(driverContext));
        } else {
            base = backend.driver();
        }
        this.driver = opened.open("driver", new MeteredDriver(base, metrics, tracing));
        var lifecycleDefaults = LifecycleCoordinator.Settings.defaults(config.defaultImage());
        this.lifecycle = new LifecycleCoordinator(store, snapshots, driver, new ImageCache(driver, Clock.systemUTC()),
                Clock.systemUTC(), nodeId,
                new LifecycleCoordinator.Settings(lifecycleDefaults.lockWait(), lifecycleDefaults.stopGrace(),
                        admit.vmPidsMax(), config.defaultImage(), lifecycleDefaults.maxConcurrentCreates()));
        // admission before any request: the VM count, cpu and memory against the host; execs per VM and node
        lifecycle.setAdmission(new dev.burrow.core.admission.VmAdmission(new dev.burrow.core.admission.HostCapacity(
                config.observability().maxVms(), Runtime.getRuntime().availableProcessors(),
                Math.max(512, HostInfo.totalMemoryMb()), admit.cpuOvercommit(), admit.memoryOvercommit())));
        lifecycle.setExecSlots(new dev.burrow.core.admission.ExecSlots(admit.maxExecsPerVm(), admit.maxExecs()));
        lifecycle.addListener(metrics.transitionListener());
        lifecycle.addListener(tracing.transitionListener());
        lifecycle.images().setTaskContext(tracing::withCurrentContext);
        lifecycle.addListener(new TransitionLog());
        this.events = new EventBroadcaster();
        lifecycle.addListener(events);
        this.identities = new Identities(stores.identities(), store, Clock.systemUTC());
        lifecycle.addListener(identities.vmDeletionListener());
        this.loops = new LoopRunner(Clock.systemUTC());
        loops.addListener(metrics.loopListener());
        var lc = config.lifecycle();
        this.reconciler = new Reconciler(store, lifecycle, lc.reconcileInterval(), lc.orphanGrace(),
                (kind, vmId) -> metrics.reconcilerAction(kind));

        int maxVcpus = Runtime.getRuntime().availableProcessors();
        int maxMemMb = (int) Math.max(512, HostInfo.totalMemoryMb());
        // clones for gitRepos: scratch in the data dir, removed after each create (and at start, after a crash)
        var git = new dev.burrow.server.git.GitCheckouts(dataDir.resolve("git-tmp"), java.time.Duration.ofMinutes(10));
        var preview = config.preview();
        // custom domains: stored, freed when their VM is deleted, routed by the preview proxy
        this.domains = new dev.burrow.server.proxy.DomainMappings(stores.domains(), lifecycle,
                preview.allowedDomainSuffixes(), preview.baseDomain(), Clock.systemUTC());
        lifecycle.addListener(domains.vmDeletionListener());
        // the create pipeline's ports: repositories cloned through a VM's network, custom domains mapped
        lifecycle.setRepoCloner(git);
        lifecycle.setDomainAttacher(domains.createAttacher());
        var vmModules = dev.burrow.server.http.VmModules.of(lifecycle, maxVcpus, maxMemMb, events, domains);
        // services: definitions in the spec, supervisors inside the VMs; started by the boot hook on create/start
        this.services = new ServiceManager(lifecycle);
        lifecycle.setBootHook(services);
        // Process handles and terminals: spawned through the coordinator (wakes the VM, counts as activity); their
        // client traffic counts as activity too. Both end a VM's processes when it stops or goes away.
        ProcessManager.Spawner spawner = (vmId, spec) -> lifecycle.spawn(vmId, spec, "api");
        ProcessManager.Activity activity = vmId -> lifecycle.activity(vmId, "session");
        // sessions of this server end with it; the VMs themselves keep running
        this.processes = opened.open("process handles",
                new ProcessManager(spawner, activity, Clock.systemUTC(), ProcessManager.Settings.defaults()));
        this.terminals = opened.open("terminals", new TerminalManager(spawner, activity, Clock.systemUTC(),
                new ProcessManager.Settings(256 * 1024, 16, 16, java.time.Duration.ofMinutes(30), java.time.Duration.ofSeconds(2))));
        lifecycle.addListener(processes);
        lifecycle.addListener(terminals);
        // A store query and a driver listing: the two things every request needs, each with a deadline.
        this.readiness = new Readiness(java.util.List.of(
                new Readiness.Check("store", () -> store.find("readyzprobe000000000")),
                new Readiness.Check("driver", lifecycle::hostResources)), Readiness.DEFAULT_TIMEOUT);
        this.ssh = config.ssh().enabled()
                ? new dev.burrow.server.ssh.SshGateway(config.ssh().host() != null ? config.ssh().host() : config.host(),
                        config.ssh().port(), config.dataDir().resolve("ssh").resolve("host_key"), lifecycle, identities,
                        lifecycle.sftpServerCommand())
                : null;
        String previewHost = preview.host() != null ? preview.host() : config.host();
        var tokens = new dev.burrow.server.proxy.PreviewTokens(HexFormat.of().parseHex(
                readOrCreate(dataDir.resolve("preview-secret"), () -> randomHex(32), true)));
        var networkActivity = new dev.burrow.server.proxy.NetworkActivity(lifecycle);
        lifecycle.addListener(networkActivity.vmDeletionListener());
        var tls = preview.tls() == null ? null
                : dev.burrow.server.proxy.PreviewTls.load(preview.tls().cert(), preview.tls().key(), preview.tls().dir());
        this.previewProxy = new dev.burrow.server.proxy.PreviewProxy(lifecycle, tokens, domains, networkActivity, previewHost,
                preview.port(), preview.baseDomain(), tls == null ? null : tls.context(),
                preview.tls() == null ? 0 : preview.tls().port());
        opened.opened("preview proxy", previewProxy::close);
        Auth auth = new Auth(stores.apiKeys());
        var terminalApi = new TerminalApi(lifecycle, terminals, identities);
        auth.acceptOnUpgrade(terminalApi::acceptsIdentityToken);
        this.api = new ApiServer(config.host(), config.port(), auth,
                java.util.stream.Stream.concat(vmModules.stream(), java.util.stream.Stream.of(
                        new dev.burrow.server.http.FilesApi(lifecycle, dataDir.resolve("upload-tmp")),
                        new SystemdApi(services), new IdentityApi(identities), new NetworkApi(lifecycle),
                        new ProcessApi(lifecycle, processes), terminalApi,
                        new dev.burrow.server.http.PortsApi(lifecycle, previewProxy, tokens, previewHost, domains),
                        new dev.burrow.server.http.DomainsApi(domains),
                        new dev.burrow.server.http.ImagesApi(lifecycle))).toList(),
                VERSION, metrics, tracing,
                readiness, new dev.burrow.server.http.ErrorResponses(hostPaths));
    }

    public static BurrowServer start(ServerConfig config) {
        return start(config, null);
    }

    /** A server on the given driver and stores instead of the config's runc driver and database; null: those. */
    public static BurrowServer start(ServerConfig config, Backend backend) {
        OpenedResources opened = new OpenedResources();
        try {
            BurrowServer s = new BurrowServer(config, backend, opened);
            // After a restart the store may hold intents a crash interrupted and the host orphans; both are
            // settled before the first request is served.
            s.loops.runNow(s.reconciler);
            s.api.start();
            opened.opened("HTTP API", s.api::close);
            if (s.ssh != null) {
                s.ssh.start();
                opened.opened("SSH gateway", s.ssh::close);
            }
            opened.opened("loops", s.loops::close);
            s.startLoops();
            if (config.prewarmDefaultImage()) s.prewarm();
            return s;
        } catch (RuntimeException e) {
            opened.closeAfter(e);
            throw e;
        }
    }
    private void startLoops() {
        var lc = config.lifecycle();
        // this node in the nodes table, registered before start returns, then beating (many hosts on one database)
        var heartbeat = new dev.burrow.core.loop.NodeHeartbeat(nodes,
                dev.burrow.core.loop.NodeHeartbeat.self(nodeId, url(), java.time.Instant.now(), VERSION,
                        Runtime.getRuntime().availableProcessors(), HostInfo.totalMemoryMb(), config.observability().maxVms()),
                dev.burrow.core.loop.NodeHeartbeat.INTERVAL);
        loops.runNow(heartbeat);
        loops.start(heartbeat);
        loops.start(reconciler);
        loops.start(new IdleSuspender(store, lifecycle, lc.idleInterval(), lc.hibernateAfter()));
        // the VM's own traffic: 4 KiB in 5 s is more than an idle interface's chatter
        loops.start(new dev.burrow.core.loop.NetworkTrafficSampler(store, lifecycle::networkBytes, java.time.Duration.ofSeconds(5), 4096,
                lifecycle.nodeId()));
        loops.start(new StuckTransitionSweeper(store, lifecycle, lc.reconcileInterval(), lc.stuckLimit()));
        loops.start(new StorageEvictor(store, snapshots, lifecycle, lc.reconcileInterval(), lc.storageQuotaBytes()));
        loops.start(new ServiceSupervisor(store, services, SERVICE_SUPERVISION_INTERVAL, lifecycle.nodeId()));
        if (config.images().gcAfter() != null) {
            loops.start(new dev.burrow.core.loop.ImageCollector(lifecycle.images(), config.images().gcInterval(),
                    config.images().gcAfter()));
        }
    }

    public ProcessManager processes() {
        return processes;
    }

    public TerminalManager terminals() {
        return terminals;
    }

    public EventBroadcaster events() {
        return events;
    }

    public Reconciler reconciler() {
        return reconciler;
    }

    /** Builds the default image in the background so the first create does not wait for it. */
    /** Pulls the default image through the image cache, so creates arriving meanwhile join this pull. */
    private void prewarm() {
        String image = config.defaultImage();
        lifecycle.images().pullAhead(image).completion().whenComplete((info, e) -> {
            if (e == null) log.info("default image {} ready ({})", image, info.digest());
            else log.error("default image {} could not be prepared: {}", image,
                    e.getCause() != null ? e.getCause().getMessage() : e.getMessage());
        });
    }

    public int port() {
        return api.port();
    }

    /** The SSH gateway's port, or -1 when it is off. */
    public int sshPort() {
        return ssh == null ? -1 : ssh.port();
    }

    public String url() {
        return "http://" + (config.host().contains(":") ? "[" + config.host() + "]" : config.host()) + ":" + port();
    }

    public String adminKey() {
        return adminKey;
    }

    public Path adminKeyFile() {
        return adminKeyFile;
    }

    public String nodeId() {
        return nodeId;
    }

    /**
     * Who may enter a VM interactively (SSH gateway, terminals): identities' tokens and registered keys, checked
     * against their VM permissions on every call.
     */
    public VmAccess vmAccess() {
        return identities;
    }

    public Identities identities() {
        return identities;
    }

    public dev.burrow.server.proxy.PreviewProxy previewProxy() {
        return previewProxy;
    }

    public LifecycleCoordinator lifecycle() {
        return lifecycle;
    }

    public SandboxDriver driver() {
        return driver;
    }

    public LoopRunner loops() {
        return loops;
    }

    public ApiServer api() {
        return api;
    }

    public BurrowMetrics metrics() {
        return metrics;
    }

    public Tracing tracing() {
        return tracing;
    }

    public Readiness readiness() {
        return readiness;
    }

    /** The database the server opened; null when it runs on a {@link Backend}'s stores. */
    public Database database() {
        return database;
    }

    /**
     * Stops serving: closes everything {@link #start} opened, last opened first (loops, SSH, HTTP, previews, sessions,
     * driver, metrics, tracing, database). VMs keep running: a server restart must not take user sandboxes down.
     */
    @Override
    public void close() {
        opened.close();
    }

    /**
     * The driver's options from the server's configuration sections (storage, VM network, process limits, registries);
     * see the driver's provider for what each means.
     */
    private static java.util.Map<String, String> driverOptions(ServerConfig config, int vmPids, long nodePids) {
        var o = new java.util.LinkedHashMap<String, String>();
        o.put("storage", config.storage().kind());
        o.put("btrfs-image-size-mb", Long.toString(config.storage().btrfsImageSizeMb()));
        var n = config.network();
        o.put("network", n.enabled() ? "on" : "off");
        if (n.subnet() != null) o.put("vm-subnet", n.subnet());
        o.put("vm-dns", String.join(",", n.dnsUpstreams()));
        o.put("vm-allow-private", String.join(",", n.allowPrivate()));
        o.put("vm-pids-max", Integer.toString(vmPids));
        o.put("node-pids-max", Long.toString(nodePids));
        if (config.registries().authFile() != null) o.put("registry-auth-file", config.registries().authFile().toString());
        o.put("insecure-registries", String.join(",", config.registries().insecure()));
        return o;
    }

    private static String readOrCreate(Path file, java.util.function.Supplier<String> make, boolean secret) {
        try {
            if (Files.exists(file)) return Files.readString(file, StandardCharsets.UTF_8).strip();
            String value = make.get();
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            if (secret) {
                Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            }
            Files.writeString(tmp, value + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return value;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or create " + file, e);
        }
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    private static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static String randomId(int len) {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < len; i++) sb.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        return sb.toString();
    }
}
