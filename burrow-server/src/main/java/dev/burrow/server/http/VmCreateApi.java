package dev.burrow.server.http;

import static dev.burrow.server.http.VmRequests.checkStartFields;
import static dev.burrow.server.http.VmRequests.optionalBody;
import static dev.burrow.server.http.VmRequests.printable;
import static dev.burrow.server.http.VmRequests.vmId;
import static dev.burrow.server.http.VmRequests.MAX_ROOTFS_MB;
import static dev.burrow.server.http.VmResponses.state;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.burrow.api.CreateVmRequest;
import dev.burrow.api.CreateVmResponse;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.CreateVmCommand;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.server.git.GitCheckouts;
import dev.burrow.server.http.RouteTable.Access;
import dev.burrow.server.template.Dockerfile;
import dev.burrow.server.template.TemplateBuilds;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * {@code POST /v1/vms}: the wire request merged with its template once, validated and mapped to core's
 * {@link CreateVmCommand}, which the coordinator's create pipeline runs. Template builds ({@link TemplateBuilds}) map
 * their VMs' requests through {@link #command}.
 */
public final class VmCreateApi implements ApiModule {
    private static final Set<String> PERSISTENCE_TYPES = Set.of("sticky", "ephemeral", "persistent");
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;
    private final int maxVcpus;
    private final int maxMemMb;
    private final dev.burrow.server.proxy.DomainMappings domains;
    private final TemplateBuilds builds;

    public VmCreateApi(LifecycleCoordinator lifecycle, int maxVcpus, int maxMemMb,
                       dev.burrow.server.proxy.DomainMappings domains) {
        this.domains = domains;
        this.lifecycle = lifecycle;
        this.maxVcpus = maxVcpus;
        this.maxMemMb = maxMemMb;
        this.builds = new TemplateBuilds(lifecycle, this::command);
    }

    /** The template builds that create their VMs through this module ({@code POST /v1/vms/snapshots} uses them). */
    public TemplateBuilds templateBuilds() {
        return builds;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.POST, "/v1/vms", "Create a VM and start it", CreateVmRequest.class,
                CreateVmResponse.class, Access.API_KEY, this::create);
    }

    /**
     * The wire request is merged with its template once and mapped to a {@link CreateVmCommand} once; core runs the
     * whole create pipeline from it (see {@link dev.burrow.core.lifecycle.CreatePipeline}'s steps in the design page).
     */
    private void create(Context ctx) {
        CreateVmRequest req = optionalBody(ctx, CreateVmRequest.class);
        if (req == null) req = Json.MAPPER.convertValue(Map.of(), CreateVmRequest.class);
        CreateVmRequest merged = mergeTemplate(req);
        CreateVmCommand command = toCommand(merged);
        String key = ctx.header("Idempotency-Key");
        if (key != null && (key.isBlank() || key.length() > 255)) {
            throw ApiException.badRequest("Idempotency-Key must be 1 to 255 characters");
        }
        // custom domains are checked before the VM exists (a create that cannot get them changes nothing)
        var wantedDomains = domains.parseCreate(merged.domains(), key != null);
        command = withBaseImage(req, merged, command)
                .withDomains(wantedDomains.stream().map(d -> new CreateVmCommand.Domain(d.domain(), d.vmPort())).toList());
        Vm vm = lifecycle.create(command, CAUSE, key,
                key == null ? null : Auth.sha256(new String(ctx.bodyAsBytes(), StandardCharsets.UTF_8)));
        List<String> mapped = wantedDomains.isEmpty() ? List.of()
                : domains.forVm(vm.id()).stream().map(dev.burrow.core.domain.DomainMapping::domain).toList();
        ctx.json(new CreateVmResponse(vm.id(), mapped, null, null, state(vm)));
    }

    /**
     * A create whose template has a {@code baseImage}: the Dockerfile is built into a cached snapshot (see
     * {@link TemplateBuilds}) and the VM is made from it, with the rest of the template merged as usual.
     */
    private CreateVmCommand withBaseImage(CreateVmRequest req, CreateVmRequest merged, CreateVmCommand command) {
        if (req.template() == null || req.template().get("baseImage") == null) return command;
        String dockerfile = TemplateBuilds.dockerfileOf(req.template());
        Dockerfile parsed = Dockerfile.parse(dockerfile);
        if (merged.image() != null || merged.snapshotId() != null) {
            throw createBad("give either 'template.baseImage' or 'image'/'snapshotId', not both");
        }
        boolean skipCache = Boolean.TRUE.equals(req.skipCache()) || Boolean.TRUE.equals(req.template().get("skipCache"));
        String snapshotId = builds.baseImage(parsed, dockerfile, skipCache, null, Persistence.DEFAULT).snapshot().id();
        return command.withSnapshot(snapshotId);
    }

    /** The create request of a template build VM: merged and mapped like {@code POST /v1/vms}, without domains. */
    CreateVmCommand command(CreateVmRequest req) {
        return toCommand(mergeTemplate(req));
    }

    // ---- request mapping ----

    /** Validates a request merged with its template and maps it to core's create request. */
    private CreateVmCommand toCommand(CreateVmRequest r) {
        Integer rootfsMb = rootfsSizeMb(r);
        if (r.snapshotId() != null && r.image() != null) throw createBad("give either 'image' or 'snapshotId', not both");
        int vcpus = r.vcpuCount() == null ? VmSpec.DEFAULT_VCPUS : r.vcpuCount();
        if (vcpus < 1 || vcpus > maxVcpus) {
            throw createBad("'vcpuCount' must be between 1 and " + maxVcpus + ", got " + vcpus);
        }
        int memMb;
        if (r.memSizeMb() != null) {
            memMb = r.memSizeMb();
        } else if (r.memSizeGb() != null) {
            memMb = (int) Math.round(r.memSizeGb() * 1024);
        } else {
            memMb = VmSpec.DEFAULT_MEM_MB;
        }
        if (memMb < 64 || memMb > maxMemMb) {
            throw createBad("memory must be between 64 and " + maxMemMb + " MiB, got " + memMb + " MiB");
        }
        checkStartFields(r.idleTimeoutSeconds(), r.readySignalTimeoutSeconds(), r.activityThresholdBytes(), VmCreateApi::createBad);
        Persistence persistence = persistence(r.persistence());
        if (r.workdir() != null && GuestPath.problem(r.workdir()) != null) {
            throw createBad("'workdir' " + GuestPath.problem(r.workdir()));
        }
        if (r.env() != null) {
            for (var e : r.env().entrySet()) {
                if (e.getKey().isEmpty() || e.getKey().contains("=") || e.getKey().indexOf('\0') >= 0
                        || e.getValue() == null || e.getValue().indexOf('\0') >= 0) {
                    throw createBad("invalid env entry '" + e.getKey() + "': names must be non-empty without '=' and values non-null");
                }
            }
        }
        if (r.labels() != null) {
            for (var e : r.labels().entrySet()) {
                if (e.getKey().isEmpty() || e.getKey().length() > 255 || e.getValue() == null || e.getValue().length() > 4096
                        || (e.getKey() + e.getValue()).chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                    throw createBad("invalid label '" + printable(e.getKey()) + "': names are 1 to 255 characters, values"
                            + " at most 4096, neither with control characters (NUL included)");
                }
            }
        }
        if (r.image() != null && (r.image().isBlank() || r.image().length() > 512)) {
            throw createBad("'image' must be a non-empty image reference");
        }
        Map<String, CreateVmCommand.InitialFile> files = new LinkedHashMap<>();
        if (r.additionalFiles() != null) {
            for (var f : r.additionalFiles().entrySet()) {
                String p = f.getKey();
                if (!p.startsWith("/") || p.indexOf('\0') >= 0 || List.of(p.split("/")).contains("..")) {
                    throw createBad("additionalFiles path must be absolute without '..': " + p);
                }
                var af = f.getValue();
                if (af == null || af.content() == null) throw createBad("additionalFiles['" + p + "'].content is required");
                files.put(p, new CreateVmCommand.InitialFile(decode(af.content(), af.encoding(), "additionalFiles content"),
                        Boolean.TRUE.equals(af.executable())));
            }
        }
        var services = ServiceRequests.fromCreate(r.systemd());
        var repos = gitRepos(r).stream().map(g -> new CreateVmCommand.Repo(g.url(), g.path(), g.rev())).toList();
        gitConfig(r, files);
        String accounts = LinuxAccounts.script(r.users(), r.groups());
        VmSpec spec = new VmSpec(r.image(), vcpus, memMb, r.env(), r.workdir(), r.idleTimeoutSeconds(), persistence,
                r.labels(), rootfsMb, r.snapshotId(), services, NetworkApi.toPolicy(r.network()),
                PortsApi.parse(r.ports()));
        Duration readyWait = Boolean.TRUE.equals(r.waitForReadySignal())
                ? Duration.ofSeconds(r.readySignalTimeoutSeconds() == null ? 120 : r.readySignalTimeoutSeconds()) : null;
        // aptDeps are checked by the command (they reach a command line in the VM)
        return new CreateVmCommand(spec, files, List.of(), repos, accounts == null ? List.of() : List.of(accounts),
                r.aptDeps(), readyWait, List.of());
    }

    /**
     * The SDK's {@code VmSpec} builder sends resources and files inside {@code template}; the seed's notes
     * put them at the top level. Both are accepted: a top-level value wins, otherwise the template's is used. Done
     * once per request; the result has no template.
     */
    static CreateVmRequest mergeTemplate(CreateVmRequest r) {
        if (r.template() == null || r.template().isEmpty()) return r;
        // template.baseImage is built into a snapshot by the create (withBaseImage); here it is only validated
        if (r.template().get("baseImage") != null) TemplateBuilds.dockerfileOf(r.template());
        CreateVmRequest t;
        try {
            t = Json.MAPPER.convertValue(r.template(), CreateVmRequest.class);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("invalid 'template': " + e.getMessage().split("\n")[0]);
        }
        return new CreateVmRequest(
                or(r.image(), t.image()),
                or(r.vcpuCount(), t.vcpuCount()),
                or(r.memSizeMb(), t.memSizeMb()),
                or(r.memSizeGb(), t.memSizeGb()),
                or(r.rootfsSizeMb(), t.rootfsSizeMb()),
                or(r.rootfsSizeGb(), t.rootfsSizeGb()),
                or(r.env(), t.env()),
                or(r.workdir(), t.workdir()),
                or(r.idleTimeoutSeconds(), t.idleTimeoutSeconds()),
                or(r.persistence(), t.persistence()),
                or(r.labels(), t.labels()),
                or(r.additionalFiles(), t.additionalFiles()),
                or(r.snapshotId(), t.snapshotId()),
                null,
                or(r.gitRepos(), t.gitRepos()),
                or(r.git(), t.git()),
                or(r.systemd(), t.systemd()),
                or(r.users(), t.users()),
                or(r.groups(), t.groups()),
                or(r.aptDeps(), t.aptDeps()),
                or(r.ports(), t.ports()),
                or(r.domains(), t.domains()),
                or(r.waitForReadySignal(), t.waitForReadySignal()),
                or(r.readySignalTimeoutSeconds(), t.readySignalTimeoutSeconds()),
                or(r.recreate(), t.recreate()),
                or(r.discriminator(), t.discriminator()),
                or(r.skipCache(), t.skipCache()),
                or(r.activityThresholdBytes(), t.activityThresholdBytes()),
                or(r.network(), t.network()));
    }

    private static <T> T or(T top, T template) {
        return top != null ? top : template;
    }

    /** {@code gitRepos} and {@code git.repos} (both are sent; Freestyle deprecated the first), validated. */
    static List<GitCheckouts.Request> gitRepos(CreateVmRequest r) {
        List<GitCheckouts.Request> out = new java.util.ArrayList<>();
        List<dev.burrow.api.GitApiTypes.GitRepo> all = new java.util.ArrayList<>();
        if (r.gitRepos() != null) all.addAll(r.gitRepos());
        if (r.git() != null && r.git().repos() != null) all.addAll(r.git().repos());
        for (int i = 0; i < all.size(); i++) {
            var g = all.get(i);
            String field = "repos[" + i + "]";
            if (g == null) throw createBad(field + " must be an object");
            var req = new GitCheckouts.Request(g.repo() != null ? g.repo() : g.url(), g.path(), g.rev());
            GitCheckouts.validate(req, field);
            if (out.stream().anyMatch(o -> o.path().equals(req.path()))) throw createBad(field + ".path is used twice: " + req.path());
            out.add(req);
        }
        // the count is checked with the request: a refused request makes no VM
        GitCheckouts.validateCount(out);
        return out;
    }

    /** {@code git.config.user} as the VM's system-wide /etc/gitconfig (every user of the VM commits as it). */
    private static void gitConfig(CreateVmRequest r, Map<String, CreateVmCommand.InitialFile> files) {
        if (r.git() == null || r.git().config() == null || r.git().config().user() == null) return;
        var u = r.git().config().user();
        StringBuilder sb = new StringBuilder("[user]\n");
        for (var e : new String[][] {{"name", u.name()}, {"email", u.email()}, {"signingkey", u.signingkey()}}) {
            if (e[1] == null) continue;
            if (e[1].chars().anyMatch(c -> c < 0x20) || e[1].length() > 1000) {
                throw createBad("git.config.user." + e[0] + " must be one line without control characters");
            }
            sb.append('\t').append(e[0]).append(" = \"").append(e[1].replace("\\", "\\\\").replace("\"", "\\\""))
                    .append("\"\n");
        }
        files.putIfAbsent("/etc/gitconfig", new CreateVmCommand.InitialFile(sb.toString().getBytes(StandardCharsets.UTF_8), false));
    }

    /** Largest disk quota accepted (1 TiB): beyond it a typo, not a plan. */
    private static final int MAX_ROOTFS_MB = 1024 * 1024;

    /**
     * {@code rootfsSizeMb} (Burrow) or {@code rootfsSizeGb} (Freestyle) as MiB; a real quota, so refused on a
     * driver that cannot enforce one rather than silently ignored.
     */
    private Integer rootfsSizeMb(CreateVmRequest r) {
        if (r.rootfsSizeMb() == null && r.rootfsSizeGb() == null) return null;
        if (r.rootfsSizeMb() != null && r.rootfsSizeGb() != null) throw createBad("give either 'rootfsSizeMb' or 'rootfsSizeGb', not both");
        if (!lifecycle.capabilities().diskQuota()) {
            throw BurrowException.badRequest("UNSUPPORTED_FIELD", "this host's VM storage has no disk quota "
                    + "(it needs btrfs), so rootfsSizeMb/rootfsSizeGb cannot be honoured; remove it from the request");
        }
        long mb = r.rootfsSizeMb() != null ? r.rootfsSizeMb() : Math.round(r.rootfsSizeGb() * 1024);
        if (mb < 1 || mb > MAX_ROOTFS_MB) throw createBad("root filesystem size must be between 1 and " + MAX_ROOTFS_MB + " MiB, got " + mb);
        return (int) mb;
    }

    private static Persistence persistence(CreateVmRequest.Persistence p) {
        if (p == null) return Persistence.DEFAULT;
        if (p.type() == null || !PERSISTENCE_TYPES.contains(p.type())) {
            throw createBad("'persistence.type' must be one of sticky, ephemeral, persistent");
        }
        int priority = p.priority() == null ? Persistence.DEFAULT_PRIORITY : p.priority();
        if (priority < 0 || priority > 10) throw createBad("'persistence.priority' must be between 0 and 10");
        Persistence.DeleteEvent event = null;
        if (p.deleteEvent() != null) {
            if (!p.type().equals("ephemeral")) throw createBad("'persistence.deleteEvent' applies to ephemeral VMs only");
            event = switch (p.deleteEvent()) {
                case "OnStop" -> Persistence.DeleteEvent.ON_STOP;
                case "OnSuspend" -> Persistence.DeleteEvent.ON_SUSPEND;
                default -> throw createBad("'persistence.deleteEvent' must be OnStop or OnSuspend");
            };
        }
        return new Persistence(Persistence.Type.valueOf(p.type().toUpperCase(java.util.Locale.ROOT)), priority, event);
    }
    private static BurrowException createBad(String message) {
        return BurrowException.badRequest("CREATE_VM_BAD_REQUEST", message);
    }

    private static byte[] decode(String content, String encoding, String what) {
        if (encoding == null || encoding.equalsIgnoreCase("utf8") || encoding.equalsIgnoreCase("utf-8")) {
            return content.getBytes(StandardCharsets.UTF_8);
        }
        if (encoding.equalsIgnoreCase("base64")) {
            try {
                // Strict alphabet (the MIME decoder would silently skip garbage); line breaks are tolerated.
                return Base64.getDecoder().decode(content.replaceAll("[\\r\\n]", ""));
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("FILES_BAD_REQUEST", what + " is not valid base64: " + e.getMessage());
            }
        }
        throw ApiException.badRequest("FILES_BAD_REQUEST", "unknown encoding '" + encoding + "' (use base64 or utf8)");
    }
}
