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
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.CreateVmCommand;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.server.git.GitCheckouts;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * {@code POST /v1/vms}: the create request validated and mapped to a {@link CreateVmCommand}, the template merged,
 * repositories cloned, the ready wait. Template builds ({@link TemplateBuilds}) create their VMs through
 * {@link #createVm}.
 */
public final class VmCreateApi implements ApiModule {
    private static final Set<String> PERSISTENCE_TYPES = Set.of("sticky", "ephemeral", "persistent");
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;
    private final GitCheckouts git;
    private final int maxVcpus;
    private final int maxMemMb;
    private final dev.burrow.server.proxy.DomainMappings domains;
    private final TemplateBuilds builds;

    public VmCreateApi(LifecycleCoordinator lifecycle, int maxVcpus, int maxMemMb, GitCheckouts git,
                       dev.burrow.server.proxy.DomainMappings domains) {
        this.domains = domains;
        this.git = git;
        this.lifecycle = lifecycle;
        this.maxVcpus = maxVcpus;
        this.maxMemMb = maxMemMb;
        this.builds = new TemplateBuilds(lifecycle, this);
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

    private void create(Context ctx) {
        CreateVmRequest req = optionalBody(ctx, CreateVmRequest.class);
        if (req == null) req = Json.MAPPER.convertValue(Map.of(), CreateVmRequest.class);
        toCommand(req);
        String key = ctx.header("Idempotency-Key");
        if (key != null && (key.isBlank() || key.length() > 255)) {
            throw ApiException.badRequest("Idempotency-Key must be 1 to 255 characters");
        }
        // custom domains are checked before the VM exists (a create that cannot get them changes nothing)
        var wantedDomains = domains.parseCreate(mergeTemplate(req).domains(), key != null);
        req = withBaseImage(req);
        Vm vm = createVm(req, key, key == null ? null : Auth.sha256(new String(ctx.bodyAsBytes(), StandardCharsets.UTF_8)));
        List<String> mapped = List.of();
        if (!wantedDomains.isEmpty()) {
            // an idempotent replay's VM has its domains already
            if (domains.forVm(vm.id()).isEmpty()) attachDomains(vm, wantedDomains);
            mapped = domains.forVm(vm.id()).stream().map(dev.burrow.core.domain.DomainMapping::domain).toList();
        }
        ctx.json(new CreateVmResponse(vm.id(), mapped, null, null, state(vm)));
    }

    /** Maps a new VM's domains; when another request took one since the check, the create fails whole. */
    private void attachDomains(Vm vm, List<dev.burrow.server.proxy.DomainMappings.Requested> wanted) {
        try {
            domains.attach(vm.id(), wanted);
        } catch (BurrowException e) {
            try {
                lifecycle.delete(vm.id(), CAUSE);
            } catch (RuntimeException d) {
                e.addSuppressed(d);
            }
            throw e;
        }
    }

    /**
     * A create whose template has a {@code baseImage}: the Dockerfile is built into a cached snapshot (see
     * {@link TemplateBuilds}) and the VM is made from it, with the rest of the template merged as usual.
     */
    private CreateVmRequest withBaseImage(CreateVmRequest req) {
        if (req.template() == null || req.template().get("baseImage") == null) return req;
        String dockerfile = TemplateBuilds.dockerfileOf(req.template());
        Dockerfile parsed = Dockerfile.parse(dockerfile);
        CreateVmRequest merged = mergeTemplate(req);
        if (merged.image() != null || merged.snapshotId() != null) {
            throw createBad("give either 'template.baseImage' or 'image'/'snapshotId', not both");
        }
        boolean skipCache = Boolean.TRUE.equals(req.skipCache()) || Boolean.TRUE.equals(req.template().get("skipCache"));
        String snapshotId = builds.baseImage(parsed, dockerfile, skipCache, null, Persistence.DEFAULT).snapshot().id();
        Map<String, Object> template = new LinkedHashMap<>(req.template());
        template.remove("baseImage");
        template.put("snapshotId", snapshotId);
        @SuppressWarnings("unchecked")
        Map<String, Object> body = Json.MAPPER.convertValue(req, Map.class);
        body.put("template", template);
        return Json.MAPPER.convertValue(body, CreateVmRequest.class);
    }

    /**
     * The create path shared by {@code POST /v1/vms} and template builds: the VM made (its repositories cloned
     * through its network once it exists), and with waitForReadySignal the ready check.
     */
    Vm createVm(CreateVmRequest req, String key, String requestHash) {
        CreateVmCommand command = toCommand(req);
        // Repositories are cloned once the VM exists, through its own network (so under its egress policy): a
        // failed clone fails the create and the VM is rolled back. The checkouts are scratch; whatever happens,
        // they are gone when the request ends.
        List<GitCheckouts.Request> repos = gitRepos(mergeTemplate(req));
        List<GitCheckouts.Checkout> checkouts = new java.util.concurrent.CopyOnWriteArrayList<>();
        CreateVmCommand.TreeFetch fetch = repos.isEmpty() ? null : (vmId, netns) -> {
            List<GitCheckouts.Checkout> cloned = git.cloneAll(repos, netns);
            checkouts.addAll(cloned);
            return cloned.stream().map(c -> new CreateVmCommand.TreeCopy(c.dir(), c.path())).toList();
        };
        Vm vm;
        try {
            vm = lifecycle.create(new CreateVmCommand(command.spec(), command.files(), List.of(), command.setup(), fetch,
                    command.steps()), CAUSE, key, requestHash);
        } finally {
            git.delete(checkouts);
        }
        var merged = mergeTemplate(req);
        if (Boolean.TRUE.equals(merged.waitForReadySignal())) {
            awaitReady(vm, merged.readySignalTimeoutSeconds() == null ? 120 : merged.readySignalTimeoutSeconds());
        }
        return vm;
    }

    /**
     * Freestyle's ready signal is "the serial console is ready for login". A Burrow create already returns only once
     * the VM's init runs and its files, repositories, accounts and services are in place; with waitForReadySignal the
     * VM must also run a fresh process (what a login would) within readySignalTimeoutSeconds, or the create fails
     * and the VM is deleted.
     */
    private void awaitReady(Vm vm, int timeoutSeconds) {
        String why;
        try {
            ExecResult r = lifecycle.exec(vm.id(), ExecRequest.of("true", Duration.ofSeconds(timeoutSeconds)), CAUSE);
            if (r.exitCode() == 0 && !r.timedOut()) return;
            why = r.timedOut() ? "no process ran within " + timeoutSeconds + " s" : "a process in it exited " + r.exitCode();
        } catch (BurrowException e) {
            why = e.getMessage();
        }
        try {
            lifecycle.delete(vm.id(), CAUSE);
        } catch (RuntimeException e) {
            // the reconciler and the user can still delete it; the answer below says what happened
        }
        throw new BurrowException(BurrowException.Kind.UNAVAILABLE, "VM_NOT_READY",
                "VM " + vm.id() + " did not become ready (" + why + "); it was deleted");
    }

    // ---- request mapping ----

    CreateVmCommand toCommand(CreateVmRequest request) {
        CreateVmRequest r = mergeTemplate(request);
        refuseUnsupported(r);
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
        gitRepos(r);
        gitConfig(r, files);
        String accounts = LinuxAccounts.script(r.users(), r.groups());
        VmSpec spec = new VmSpec(r.image(), vcpus, memMb, r.env(), r.workdir(), r.idleTimeoutSeconds(), persistence,
                r.labels(), rootfsMb, r.snapshotId(), services, NetworkApi.toPolicy(r.network()),
                PortsApi.parse(r.ports()));
        return new CreateVmCommand(spec, files, List.of(), accounts == null ? List.of() : List.of(accounts), null,
                aptSteps(r.aptDeps()));
    }

    /** A Debian package name (policy 5.6.1), optionally {@code =version} (5.6.12: [epoch:]upstream[-revision]). */
    private static final java.util.regex.Pattern APT_DEP = java.util.regex.Pattern.compile(
            "[a-z0-9][a-z0-9+.-]{1,99}(:[a-z0-9-]{1,32})?(=([0-9]{1,9}:)?[A-Za-z0-9][A-Za-z0-9.+~-]{0,99}(:[A-Za-z0-9.+~-]{1,99})*)?");
    static final int MAX_APT_DEPS = 200;
    private static final Duration APT_TIMEOUT = Duration.ofMinutes(15);

    /**
     * {@code aptDeps}: after files and accounts, before services, apt installs the packages inside the VM, as root
     * and through the VM's own network (so its egress policy applies to the mirrors too). The names are checked
     * here, so nothing but package names reaches the command line. An image without apt-get, or a failed install,
     * fails the create (400) and the VM is rolled back.
     */
    static List<CreateVmCommand.SetupStep> aptSteps(List<String> deps) {
        if (deps == null || deps.isEmpty()) return List.of();
        if (deps.size() > MAX_APT_DEPS) throw createBad("at most " + MAX_APT_DEPS + " aptDeps, got " + deps.size());
        for (int i = 0; i < deps.size(); i++) {
            String d = deps.get(i);
            if (d == null || !APT_DEP.matcher(d).matches()) {
                throw createBad("aptDeps[" + i + "] must be a Debian package name (lowercase letters, digits, '+', '-', '.';"
                        + " at least two characters, starting with a letter or digit), optionally ':arch' and '=version', got '"
                        + (d == null ? "null" : d.length() > 100 ? d.substring(0, 100) + "…" : d) + "'");
            }
        }
        String check = "command -v apt-get >/dev/null 2>&1 || { echo 'no apt-get in this image' >&2; exit 127; }";
        String log = "/var/tmp/.burrow-apt-" + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong()) + ".log";
        String install = "export DEBIAN_FRONTEND=noninteractive; { apt-get update && apt-get install -y --no-install-recommends -- "
                + String.join(" ", deps) + "; } >" + log + " 2>&1; rc=$?; tail -c 4000 " + log + "; rm -f " + log + "; exit $rc";
        return List.of(
                new CreateVmCommand.SetupStep(check, Duration.ofMinutes(1), "APT_UNAVAILABLE",
                        "aptDeps needs an image with apt-get (Debian or Ubuntu); this VM's image has none"),
                new CreateVmCommand.SetupStep(install, APT_TIMEOUT, "APT_INSTALL_FAILED",
                        "installing aptDeps (" + String.join(" ", deps) + ") in the VM failed"));
    }

    /**
     * The SDK's {@code VmSpec} builder sends resources and files inside {@code template}; the seed's notes
     * put them at the top level. Both are accepted: a top-level value wins, otherwise the template's is used.
     */
    static CreateVmRequest mergeTemplate(CreateVmRequest r) {
        if (r.template() == null || r.template().isEmpty()) return r;
        // template.baseImage was built into template.snapshotId before (withBaseImage); here it is only validated
        if (r.template().get("baseImage") != null) TemplateBuilds.dockerfileOf(r.template());
        CreateVmRequest t;
        try {
            t = Json.MAPPER.convertValue(r.template(), CreateVmRequest.class);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("invalid 'template': " + e.getMessage().split("\n")[0]);
        }
        var components = CreateVmRequest.class.getRecordComponents();
        Object[] merged = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        try {
            for (int i = 0; i < components.length; i++) {
                var accessor = components[i].getAccessor();
                Object top = accessor.invoke(r);
                merged[i] = components[i].getName().equals("template") ? null : top != null ? top : accessor.invoke(t);
                types[i] = components[i].getType();
            }
            return CreateVmRequest.class.getDeclaredConstructor(types).newInstance(merged);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot merge create template", e);
        }
    }

    /** Fields Burrow knows but cannot honour yet: refusing them beats silently creating something else. */
    private static void refuseUnsupported(CreateVmRequest r) {
        Map<String, Boolean> unsupported = new LinkedHashMap<>();
        unsupported.put("template", r.template() != null && !r.template().isEmpty());
        List<String> refused = unsupported.entrySet().stream().filter(Map.Entry::getValue).map(Map.Entry::getKey).toList();
        if (!refused.isEmpty()) {
            throw BurrowException.badRequest("UNSUPPORTED_FIELD", "this Burrow server does not support "
                    + String.join(", ", refused) + " yet; remove " + (refused.size() == 1 ? "it" : "them") + " from the request");
        }
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
