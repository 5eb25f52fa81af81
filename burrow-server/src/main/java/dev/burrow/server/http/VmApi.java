package dev.burrow.server.http;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;

import dev.burrow.api.CreateVmRequest;
import dev.burrow.api.CreateVmResponse;
import dev.burrow.api.ExecAwaitRequest;
import dev.burrow.api.ExecAwaitResponse;
import dev.burrow.api.LifecycleResponses;
import dev.burrow.api.ListVmsResponse;
import dev.burrow.api.SnapshotResponses;
import dev.burrow.api.VmInfo;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.ShellCommand;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.CreateVmCommand;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.vm.GuestPath;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;
import dev.burrow.server.git.GitCheckouts;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/** The {@code /v1/vms} routes: Freestyle-compatible shapes over the lifecycle coordinator. */
public final class VmApi implements ApiModule {
    /** Largest file the files API reads or writes in one request. */
    public static final long MAX_FILE_BYTES = 64L * 1024 * 1024;
    private static final Duration DEFAULT_EXEC_TIMEOUT = Duration.ofMinutes(5);
    private static final Duration MAX_EXEC_TIMEOUT = Duration.ofHours(24);
    private static final Set<String> PERSISTENCE_TYPES = Set.of("sticky", "ephemeral", "persistent");
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;
    private final GitCheckouts git;
    private final int maxVcpus;
    private final int maxMemMb;
    private final EventBroadcaster events;
    private final io.javalin.http.sse.SseHandler sse;

    private final dev.burrow.server.proxy.DomainMappings domains;

    public VmApi(LifecycleCoordinator lifecycle, int maxVcpus, int maxMemMb, EventBroadcaster events, GitCheckouts git,
                 dev.burrow.server.proxy.DomainMappings domains) {
        this.domains = domains;
        this.git = git;
        this.lifecycle = lifecycle;
        this.maxVcpus = maxVcpus;
        this.maxMemMb = maxMemMb;
        this.events = events;
        this.sse = new io.javalin.http.sse.SseHandler(events::subscribe);
        this.builds = new TemplateBuilds(lifecycle, this);
    }

    private final TemplateBuilds builds;

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.POST, "/v1/vms", "Create a VM and start it", CreateVmRequest.class,
                CreateVmResponse.class, Access.API_KEY, this::create);
        table.add(cfg, HandlerType.GET, "/v1/vms", "List VMs (filter with label.<key>=<value>; every VM unless paged with limit and offset)", null,
                ListVmsResponse.class, Access.API_KEY, this::list);
        // Before /v1/vms/{vm_id}: Javalin tries routes in the order they were added, and 'snapshots' would
        // otherwise be taken for a VM id.
        table.add(cfg, HandlerType.GET, "/v1/vms/snapshots", "List disk snapshots, newest first", null,
                SnapshotResponses.ListSnapshotsResponse.class, Access.API_KEY, this::listSnapshots);
        table.add(cfg, HandlerType.POST, "/v1/vms/snapshots",
                "Build a snapshot from a template (cached by the template's hash and discriminator unless skipCache; "
                        + "template.baseImage.dockerfileContent is built as a Dockerfile)",
                SnapshotResponses.CreateSnapshotRequest.class, SnapshotResponses.CreateSnapshotResponse.class, Access.API_KEY,
                this::createSnapshot);
        table.add(cfg, HandlerType.PATCH, "/v1/vms/snapshots/{snapshot_id}",
                "Rename a snapshot ('name', null clears it) and/or change its persistence (sticky with priority, or persistent)",
                SnapshotResponses.PatchSnapshotRequest.class, SnapshotResponses.PatchSnapshotResponse.class, Access.API_KEY,
                this::patchSnapshot);
        table.add(cfg, HandlerType.DELETE, "/v1/vms/snapshots/{snapshot_id}",
                "Delete a snapshot (409 SNAPSHOT_IN_USE while a VM made from it exists)", null,
                SnapshotResponses.DeleteSnapshotResponse.class, Access.API_KEY, ctx -> {
                    String id = ctx.pathParam("snapshot_id");
                    lifecycle.deleteSnapshot(id, CAUSE);
                    ctx.json(new SnapshotResponses.DeleteSnapshotResponse(id));
                });
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/snapshot",
                "Snapshot a VM's disk (a running VM is frozen for the moment it takes); create from it with snapshotId",
                SnapshotResponses.SnapshotRequest.class, SnapshotResponses.SnapshotResponse.class, Access.API_KEY, this::snapshot);
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/fork",
                "Make 'count' new running VMs (1-" + LifecycleCoordinator.MAX_FORKS + ") from a copy of this VM's disk; the source is untouched",
                SnapshotResponses.ForkRequest.class, SnapshotResponses.ForkResponse.class, Access.API_KEY, this::fork);
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/resize",
                "Change a VM's vCPUs and memory (applied live to a running VM); omitted fields are kept",
                SnapshotResponses.ResizeRequest.class, SnapshotResponses.ResizeResponse.class, Access.API_KEY, this::resize);
        table.add(cfg, HandlerType.GET, "/v1/vms/{vm_id}", "Get a VM", null, VmInfo.class, Access.API_KEY,
                ctx -> ctx.json(info(lifecycle.get(vmId(ctx)))));
        table.add(cfg, HandlerType.DELETE, "/v1/vms/{vm_id}", "Delete a VM and release everything it holds", null,
                LifecycleResponses.IdResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.delete(vmId(ctx), CAUSE);
                    ctx.json(new LifecycleResponses.IdResponse(vm.id(), "deleted"));
                });
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/start", "Start a stopped VM or resume a suspended one",
                LifecycleResponses.StartRequest.class, LifecycleResponses.StartResponse.class, Access.API_KEY, ctx -> {
                    var req = optionalBody(ctx, LifecycleResponses.StartRequest.class);
                    // Accepted for the SDK and not acted on, but a value no VM could have is still the client's mistake.
                    if (req != null) {
                        checkStartFields(req.idleTimeoutSeconds(), req.readySignalTimeoutSeconds(),
                                req.activityThresholdBytes(), ApiException::badRequest);
                    }
                    Vm vm = lifecycle.start(vmId(ctx), CAUSE);
                    ctx.json(new LifecycleResponses.StartResponse(vm.id(), List.of(), null, state(vm)));
                });
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/stop", "Stop a VM gracefully; its disk is kept", null,
                LifecycleResponses.StopResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.stop(vmId(ctx), CAUSE);
                    ctx.json(new LifecycleResponses.StopResponse(vm.id(), vm.id(), state(vm)));
                });
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/kill", "Stop a VM at once (SIGKILL); its disk is kept",
                null, LifecycleResponses.IdResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.kill(vmId(ctx), CAUSE);
                    ctx.json(new LifecycleResponses.IdResponse(vm.id(), state(vm)));
                });
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/suspend", "Freeze a VM's processes; memory is kept", null,
                LifecycleResponses.SuspendResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.suspend(vmId(ctx), CAUSE);
                    ctx.json(new LifecycleResponses.SuspendResponse(vm.id(), vm.id(), null, state(vm)));
                });
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/exec-await",
                "Run a shell command in the VM and wait for it (a suspended VM is resumed first)",
                ExecAwaitRequest.class, ExecAwaitResponse.class, Access.API_KEY, this::execAwait);
        // the files routes are FilesApi's (streamed bodies)
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/ping",
                "Record activity on a VM (keeps its idle timeout from firing)", null, PingResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.ping(vmId(ctx));
                    ctx.json(new PingResponse(vm.id(), state(vm), java.time.Instant.now()));
                });
        table.add(cfg, HandlerType.GET, "/v1/vms/{vm_id}/events",
                "The VM's status changes, oldest first: intent and outcome of every transition and who caused it",
                null, VmEventsResponse.class, Access.API_KEY, ctx -> {
                    int limit = QueryParams.intParam(ctx, "limit", 1000, 1, 10_000);
                    var list = lifecycle.events(vmId(ctx), limit).stream().map(e -> new VmEventView(e.id(), e.at(),
                            e.from() == null ? null : e.from().dbName(), e.to().dbName(), e.op(), e.cause(), e.detail(),
                            e.durationMs())).toList();
                    ctx.json(new VmEventsResponse(list));
                });
        table.add(cfg, HandlerType.GET, "/v1/events",
                "Server-sent events: every VM transition as it commits (event 'transition', JSON data)", null, null,
                Access.API_KEY, ctx -> {
                    String accept = ctx.header("Accept");
                    if (accept == null || !accept.contains("text/event-stream")) {
                        throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "NOT_ACCEPTABLE",
                                "this is a server-sent-event stream: send 'Accept: text/event-stream'");
                    }
                    sse.handle(ctx);
                });
    }

    // ---- handlers ----

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

    private void snapshot(Context ctx) {
        String id = vmId(ctx);
        var req = optionalBody(ctx, SnapshotResponses.SnapshotRequest.class);
        String name = req == null ? null : req.name();
        if (name != null && (name.isBlank() || name.length() > 255 || name.indexOf('\0') >= 0)) {
            throw ApiException.badRequest("'name' must be 1 to 255 characters (no NUL)");
        }
        Persistence persistence = snapshotPersistence(req == null ? null : req.persistence(), "persistence");
        Snapshot snap = lifecycle.snapshot(id, name, persistence, null, null, CAUSE);
        ctx.json(new SnapshotResponses.SnapshotResponse(snap.id(), snap.sourceVmId(), snap.sourceVmId()));
    }

    private void fork(Context ctx) {
        String id = vmId(ctx);
        var req = optionalBody(ctx, SnapshotResponses.ForkRequest.class);
        int count = req == null || req.count() == null ? 1 : req.count();
        if (count < 1 || count > LifecycleCoordinator.MAX_FORKS) {
            throw BurrowException.badRequest("FORK_VM_BAD_REQUEST",
                    "'count' must be between 1 and " + LifecycleCoordinator.MAX_FORKS + ", got " + count);
        }
        var result = lifecycle.fork(id, count, CAUSE);
        ctx.json(new SnapshotResponses.ForkResponse(id, result.vms().stream()
                .map(vm -> new SnapshotResponses.Fork(vm.id(), List.of(), null)).toList()));
    }

    private void listSnapshots(Context ctx) {
        var list = lifecycle.listSnapshots().stream().map(VmApi::snapshotInfo).toList();
        int failed = (int) list.stream().filter(SnapshotResponses.SnapshotInfo::failed).count();
        ctx.json(new SnapshotResponses.ListSnapshotsResponse(list, list.size(), failed, 0));
    }

    static SnapshotResponses.SnapshotInfo snapshotInfo(Snapshot snap) {
        var p = snap.persistence();
        // deleted is always false: a deleted snapshot's row is removed, not kept
        return new SnapshotResponses.SnapshotInfo(snap.id(), snap.sourceVmId().isEmpty() ? null : snap.sourceVmId(),
                snap.createdAt(), snap.name(), snap.failed(), snap.failureReason(), false,
                new SnapshotResponses.SnapshotPersistence(p.wireType(),
                        p.type() == Persistence.Type.STICKY ? p.priority() : null),
                snap.sourceSpec().vcpuCount(), snap.sourceSpec().memSizeMb(), snap.sourceSpec().rootfsSizeMb(),
                snap.image().isEmpty() ? null : snap.image(), snap.lastUsedAt(), snap.templateHash(), snap.user());
    }

    /** {@code POST /v1/vms/snapshots}: {@code {name?, template, persistence?}}. */
    private void createSnapshot(Context ctx) {
        var req = requiredBody(ctx, SnapshotResponses.CreateSnapshotRequest.class);
        if (req.template() == null) throw BurrowException.badRequest("CREATE_SNAPSHOT_BAD_REQUEST", "'template' is required");
        if (req.name() != null && (req.name().isBlank() || req.name().length() > 255 || req.name().indexOf('\0') >= 0)) {
            throw BurrowException.badRequest("CREATE_SNAPSHOT_BAD_REQUEST", "'name' must be 1 to 255 characters (no NUL)");
        }
        Persistence persistence = snapshotPersistence(req.persistence(), "persistence");
        var result = builds.ensure(req.name(), req.template(), persistence);
        ctx.json(new SnapshotResponses.CreateSnapshotResponse(result.snapshot().id(), result.built()));
    }

    /** {@code PATCH /v1/vms/snapshots/{id}}: a present {@code name} (null clears it) and/or {@code persistence}. */
    private void patchSnapshot(Context ctx) {
        String id = ctx.pathParam("snapshot_id");
        var tree = requiredBody(ctx, com.fasterxml.jackson.databind.JsonNode.class);
        if (!tree.isObject()) throw ApiException.badRequest("the request body must be a JSON object");
        SnapshotResponses.PatchSnapshotRequest req;
        try {
            req = Json.MAPPER.treeToValue(tree, SnapshotResponses.PatchSnapshotRequest.class);
        } catch (MismatchedInputException e) {
            throw BurrowException.of(ErrorCode.UPDATE_SNAPSHOT_BAD_REQUEST, "invalid value for '" + fieldOf(e) + "': "
                    + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            throw BurrowException.of(ErrorCode.UPDATE_SNAPSHOT_BAD_REQUEST, "malformed request: " + e.getOriginalMessage());
        }
        boolean hasName = tree.has("name");
        if (hasName && req.name() != null && (req.name().isBlank() || req.name().length() > 255
                || req.name().indexOf('\0') >= 0)) {
            throw BurrowException.of(ErrorCode.UPDATE_SNAPSHOT_BAD_REQUEST, "'name' must be 1 to 255 characters (no NUL) or null");
        }
        Persistence persistence = req.persistence() == null ? null : snapshotPersistence(req.persistence(), "persistence");
        Snapshot snap = lifecycle.updateSnapshot(id, s -> {
            Snapshot out = s;
            if (hasName) out = out.withName(req.name());
            if (persistence != null) out = out.withPersistence(persistence);
            return out;
        }, CAUSE);
        ctx.json(new SnapshotResponses.PatchSnapshotResponse(snap.id(), snap.name(), snapshotInfo(snap).snapshotPersistence()));
    }

    /** A snapshot's persistence: sticky (priority 0..10, default 5) or persistent; omitted = sticky priority 5. */
    private static Persistence snapshotPersistence(CreateVmRequest.Persistence p, String field) {
        if (p == null) return Persistence.DEFAULT;
        if (p.type() == null || !(p.type().equals("sticky") || p.type().equals("persistent"))) {
            throw BurrowException.badRequest("UNSUPPORTED_FIELD", "'" + field + ".type' of a snapshot must be sticky or persistent");
        }
        if (p.deleteEvent() != null) throw ApiException.badRequest("'" + field + ".deleteEvent' applies to ephemeral VMs only");
        int priority = p.priority() == null ? Persistence.DEFAULT_PRIORITY : p.priority();
        if (priority < 0 || priority > 10) throw ApiException.badRequest("'" + field + ".priority' must be between 0 and 10");
        if (p.type().equals("persistent") && p.priority() != null) {
            throw ApiException.badRequest("'" + field + ".priority' applies to sticky snapshots only");
        }
        return new Persistence(p.type().equals("sticky") ? Persistence.Type.STICKY : Persistence.Type.PERSISTENT, priority, null);
    }

    private void resize(Context ctx) {
        String id = vmId(ctx);
        var req = requiredBody(ctx, SnapshotResponses.ResizeRequest.class);
        Integer diskMb = null;
        if (req.rootfsSizeGb() != null) {
            if (!lifecycle.capabilities().diskQuota()) {
                throw BurrowException.badRequest("UNSUPPORTED_FIELD", "this host's VM storage has no disk quota (it needs "
                        + "btrfs), so rootfsSizeGb cannot be honoured");
            }
            long mb = Math.round(req.rootfsSizeGb() * 1024);
            if (mb < 1 || mb > MAX_ROOTFS_MB) throw resizeBad("root filesystem size must be between 1 and " + MAX_ROOTFS_MB + " MiB, got " + mb);
            diskMb = (int) mb;
        }
        Vm vm = lifecycle.get(id);
        int vcpus = req.vcpuCount() == null ? vm.spec().vcpuCount() : req.vcpuCount();
        if (vcpus < 1 || vcpus > maxVcpus) throw resizeBad("'vcpuCount' must be between 1 and " + maxVcpus + ", got " + vcpus);
        int memMb = vm.spec().memSizeMb();
        if (req.memSizeMb() != null) memMb = req.memSizeMb();
        else if (req.memSizeGb() != null) memMb = (int) Math.round(req.memSizeGb() * 1024);
        if (memMb < 64 || memMb > maxMemMb) {
            throw resizeBad("memory must be between 64 and " + maxMemMb + " MiB, got " + memMb + " MiB");
        }
        // the disk first: its refusals (shrinking, no quota) come before anything changed
        if (diskMb != null) lifecycle.resizeDisk(id, diskMb, CAUSE);
        if (vcpus != vm.spec().vcpuCount() || memMb != vm.spec().memSizeMb() || diskMb == null) {
            lifecycle.resize(id, vcpus, memMb, CAUSE);
        }
        ctx.json(Map.of());
    }

    private static BurrowException resizeBad(String message) {
        return BurrowException.badRequest("RESIZE_VM_BAD_REQUEST", message);
    }

    /**
     * Every VM matching, unless the caller pages with {@code limit} (and {@code offset}): the vendor SDK's list takes
     * no parameters and expects all of them, so there is no default cap. The counts are over every matching VM, not
     * the page: COUNT(*) by status in the store, or over the label-filtered VMs.
     */
    private void list(Context ctx) {
        Map<String, String> labels = new LinkedHashMap<>();
        ctx.queryParamMap().forEach((k, v) -> {
            if (k.startsWith("label.") && !v.isEmpty()) labels.put(k.substring(6), v.get(0));
        });
        boolean includeDeleted = "true".equalsIgnoreCase(ctx.queryParam("includeDeleted"));
        int limit = QueryParams.intParam(ctx, "limit", 0, 1, 10_000);
        int offset = QueryParams.intParam(ctx, "offset", 0, 0, Integer.MAX_VALUE);
        List<Vm> vms = lifecycle.list(new VmQuery(includeDeleted, labels, limit, offset));
        List<VmInfo> infos = vms.stream().map(this::info).toList();
        Map<String, Long> byState = new HashMap<>();
        if (labels.isEmpty()) {
            lifecycle.countByStatus(includeDeleted).forEach((status, n) -> byState.merge(StateMapping.freestyleState(status), n, Long::sum));
        } else if (limit == 0 && offset == 0) {
            vms.forEach(vm -> byState.merge(state(vm), 1L, Long::sum));
        } else {
            lifecycle.list(new VmQuery(includeDeleted, labels, 0, 0)).forEach(vm -> byState.merge(state(vm), 1L, Long::sum));
        }
        long total = byState.values().stream().mapToLong(Long::longValue).sum();
        ctx.json(new ListVmsResponse(infos, (int) total, count(byState, "running"), count(byState, "starting"),
                count(byState, "suspended"), count(byState, "stopped")));
    }

    private void execAwait(Context ctx) {
        String id = vmId(ctx);
        ExecAwaitRequest req = requiredBody(ctx, ExecAwaitRequest.class);
        if (req.command() == null || req.command().isEmpty()) {
            throw ApiException.badRequest("'command' is required and must be a non-empty string");
        }
        if (req.command().indexOf('\0') >= 0) throw ApiException.badRequest("'command' must not contain NUL bytes");
        Duration timeout = DEFAULT_EXEC_TIMEOUT;
        if (req.timeoutMs() != null) {
            if (req.timeoutMs() <= 0) throw ApiException.badRequest("'timeoutMs' must be a positive number of milliseconds");
            timeout = Duration.ofMillis(Math.min(req.timeoutMs(), MAX_EXEC_TIMEOUT.toMillis()));
        }
        // vm.user({username}).exec(...) in the SDK sends the user in this header; running as root instead would be
        // silently wrong
        String user = ctx.header(LINUX_USER_HEADER);
        if (user == null || user.isBlank()) user = defaultUser(lifecycle, id);
        ExecResult r = user == null || user.isBlank() ? lifecycle.exec(id, ExecRequest.of(req.command(), timeout), CAUSE)
                : execAs(id, user, req.command(), timeout);
        ctx.json(new ExecAwaitResponse(r.stdout(), r.stderr(), r.exitCode(), r.timedOut(), r.truncated()));
    }

    /**
     * The user commands of a VM run as when the request names none: the default user of the snapshot the VM was
     * made from (a Dockerfile's USER), else root.
     */
    public static String defaultUser(LifecycleCoordinator lifecycle, String vmId) {
        String sid = lifecycle.get(vmId).spec().snapshotId();
        if (sid == null) return null;
        try {
            return lifecycle.findSnapshot(sid).user();
        } catch (BurrowException e) {
            return null;
        }
    }

    /** The header the SDK's {@code vm.user({username})} sends. */
    static final String LINUX_USER_HEADER = "X-Freestyle-Vm-Linux-User-Id";

    /**
     * exec-await as a user of the VM, through the driver's interactive process (which resolves the user in the
     * VM's own passwd and group files): output collected up to the exec limit, killed at the timeout.
     */
    private ExecResult execAs(String id, String user, String command, Duration timeout) {
        long t0 = System.nanoTime();
        var spec = new dev.burrow.core.driver.ProcessSpec(ShellCommand.argv(command), Map.of(), null, user, false, 0, 0, null);
        try (var p = lifecycle.spawn(id, spec, CAUSE)) {
            byte[] script = ShellCommand.stdin(command);
            if (script != null) {
                // Written from its own thread: the command may print more than a pipe holds before sh reads it all.
                Thread.ofVirtual().start(() -> {
                    try (var in = p.stdin()) {
                        in.write(script);
                    } catch (java.io.IOException ignored) {
                        // the process ended before reading it all; its exit code tells
                    }
                });
            } else {
                p.stdin().close();
            }
            var out = new java.io.ByteArrayOutputStream();
            var err = new java.io.ByteArrayOutputStream();
            boolean[] cut = new boolean[1];
            Thread to = Thread.ofVirtual().start(() -> drain(p.stdout(), out, cut));
            Thread te = Thread.ofVirtual().start(() -> drain(p.stderr(), err, cut));
            var code = p.waitFor(timeout);
            boolean timedOut = code.isEmpty();
            if (timedOut) p.close();
            to.join(2000);
            te.join(2000);
            return new ExecResult(timedOut ? 137 : code.getAsInt(), out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8), timedOut, cut[0], (System.nanoTime() - t0) / 1_000_000);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("exec as " + user + " in VM " + id + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during exec in VM " + id, e);
        }
    }

    private static void drain(java.io.InputStream in, java.io.ByteArrayOutputStream sink, boolean[] cut) {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                synchronized (sink) {
                    int room = ExecRequest.DEFAULT_MAX_OUTPUT - sink.size();
                    if (room > 0) sink.write(buf, 0, Math.min(n, room));
                    if (n > room) cut[0] = true;
                }
            }
        } catch (java.io.IOException e) {
            // the process ended or was killed: what was read is the output
        }
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
        checkStartFields(r.idleTimeoutSeconds(), r.readySignalTimeoutSeconds(), r.activityThresholdBytes(), VmApi::createBad);
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

    /** {@code POST /v1/vms/{id}/ping}. */
    public record PingResponse(String id, String state, java.time.Instant lastActivityAt) { }

    public record VmEventView(long id, java.time.Instant at, String from, String to, String op, String cause,
                              String detail, Long durationMs) { }

    public record VmEventsResponse(List<VmEventView> events) { }

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

    // ---- helpers ----

    static String vmId(Context ctx) {
        return ctx.pathParam("vm_id");
    }

    /**
     * The file path after {@code /files/}. The vendor SDK percent-encodes the whole path as one segment
     * ({@code %2Ftmp%2Fa.txt}); plain slashes work too. Decoded exactly once, from the raw request URI, so
     * that no router normalisation (collapsing {@code ..}) happens before the driver's own checks.
     */
    static String filePath(Context ctx) {
        String raw = ctx.req().getRequestURI();
        int i = raw.indexOf("/files/");
        if (i < 0) throw ApiException.badRequest("FILES_BAD_REQUEST", "missing file path");
        String encoded = raw.substring(i + "/files/".length());
        String path;
        try {
            path = java.net.URLDecoder.decode(encoded.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("FILES_BAD_REQUEST", "file path is not valid percent-encoding");
        }
        if (path.isEmpty()) throw ApiException.badRequest("FILES_BAD_REQUEST", "empty file path");
        if (path.indexOf('\0') >= 0) throw ApiException.badRequest("FILES_BAD_REQUEST", "file path contains a NUL byte");
        if (!path.startsWith("/")) path = "/" + path;
        for (String part : path.split("/")) {
            if (part.equals("..")) {
                throw ApiException.badRequest("FILES_BAD_REQUEST", "file path must not contain '..': " + path);
            }
        }
        if (path.length() > 4096) throw ApiException.badRequest("FILES_BAD_REQUEST", "file path longer than 4096 bytes");
        return path;
    }

    static <T> T requiredBody(Context ctx, Class<T> type) {
        T value = optionalBody(ctx, type);
        if (value == null) throw ApiException.badRequest("a JSON request body is required");
        return value;
    }

    static <T> T optionalBody(Context ctx, Class<T> type) {
        byte[] body = ctx.bodyAsBytes();
        if (body.length == 0) return null;
        try {
            return Json.MAPPER.readValue(body, type);
        } catch (MismatchedInputException e) {
            throw ApiException.badRequest("invalid value for '" + fieldOf(e) + "': " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("malformed JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiException.badRequest("unreadable request body: " + e.getMessage());
        }
    }

    /** The timers a create and a start may carry, each refused through {@code bad} when out of range. */
    static void checkStartFields(Integer idleTimeoutSeconds, Integer readySignalTimeoutSeconds, Long activityThresholdBytes,
                                 java.util.function.Function<String, BurrowException> bad) {
        if (readySignalTimeoutSeconds != null && (readySignalTimeoutSeconds < 1 || readySignalTimeoutSeconds > 3600)) {
            throw bad.apply("'readySignalTimeoutSeconds' must be between 1 and 3600");
        }
        if (idleTimeoutSeconds != null && idleTimeoutSeconds < 0) throw bad.apply("'idleTimeoutSeconds' must not be negative");
        if (activityThresholdBytes != null && activityThresholdBytes < 0) {
            throw bad.apply("'activityThresholdBytes' must not be negative");
        }
    }

    /** {@code s} for an error message: control characters shown as {@code \\uXXXX}, cut at 80 characters. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(80).forEach(c -> {
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", c)); else b.appendCodePoint(c);
        });
        return s.codePointCount(0, s.length()) > 80 ? b + "…" : b.toString();
    }

    /** The JSON path of the field a mismatch is about ({@code users.[0].uid}), or "body". */
    static String fieldOf(MismatchedInputException e) {
        return e.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .reduce((a, b) -> a + "." + b).orElse("body");
    }

    private VmInfo info(Vm vm) {
        var s = vm.spec();
        var pull = lifecycle.pullOf(vm).map(ImagesApi::pullInfo).orElse(null);
        return new VmInfo(vm.id(), vm.id(), state(vm), vm.status().dbName(), vm.statusReason(), vm.createdAt(),
                vm.lastActivityAt(), vm.lastNetworkActivityAt(),
                new CreateVmRequest.Persistence(s.persistence().wireType(), s.persistence().priority(),
                        s.persistence().wireDeleteEvent()),
                s.image(), s.vcpuCount(), s.memSizeMb(), s.idleTimeoutSeconds(), s.labels(), vm.node(),
                vm.status() == VmStatus.DELETED, s.rootfsSizeMb(), s.snapshotId(), pull);
    }

    private static String state(Vm vm) {
        return StateMapping.freestyleState(vm.status());
    }

    private static int count(Map<String, Long> byState, String state) {
        return byState.getOrDefault(state, 0L).intValue();
    }
}
