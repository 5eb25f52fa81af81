package dev.burrow.server.http;

import static dev.burrow.server.http.VmRequests.fieldOf;
import static dev.burrow.server.http.VmRequests.optionalBody;
import static dev.burrow.server.http.VmRequests.requiredBody;
import static dev.burrow.server.http.VmRequests.vmId;
import static dev.burrow.server.http.VmResponses.snapshotInfo;

import java.util.List;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;

import dev.burrow.api.CreateVmRequest;
import dev.burrow.api.SnapshotResponses;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.server.http.RouteTable.Access;
import dev.burrow.server.template.TemplateBuilds;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * Disk snapshots: list, build from a template, rename or re-persist, delete; snapshot a VM; fork a VM. Registered
 * before {@link VmLifecycleApi}: Javalin tries routes in the order they were added, and {@code GET /v1/vms/snapshots}
 * would otherwise be taken for {@code GET /v1/vms/{vm_id}}.
 */
public final class SnapshotApi implements ApiModule {
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;
    private final TemplateBuilds builds;

    public SnapshotApi(LifecycleCoordinator lifecycle, TemplateBuilds builds) {
        this.lifecycle = lifecycle;
        this.builds = builds;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
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
            throw BurrowException.of(ErrorCode.FORK_VM_BAD_REQUEST,
                    "'count' must be between 1 and " + LifecycleCoordinator.MAX_FORKS + ", got " + count);
        }
        var result = lifecycle.fork(id, count, CAUSE);
        ctx.json(new SnapshotResponses.ForkResponse(id, result.vms().stream()
                .map(vm -> new SnapshotResponses.Fork(vm.id(), List.of(), null)).toList()));
    }

    private void listSnapshots(Context ctx) {
        var list = lifecycle.listSnapshots().stream().map(VmResponses::snapshotInfo).toList();
        int failed = (int) list.stream().filter(SnapshotResponses.SnapshotInfo::failed).count();
        ctx.json(new SnapshotResponses.ListSnapshotsResponse(list, list.size(), failed, 0));
    }

    /** {@code POST /v1/vms/snapshots}: {@code {name?, template, persistence?}}. */
    private void createSnapshot(Context ctx) {
        var req = requiredBody(ctx, SnapshotResponses.CreateSnapshotRequest.class);
        if (req.template() == null) throw BurrowException.of(ErrorCode.CREATE_SNAPSHOT_BAD_REQUEST, "'template' is required");
        if (req.name() != null && (req.name().isBlank() || req.name().length() > 255 || req.name().indexOf('\0') >= 0)) {
            throw BurrowException.of(ErrorCode.CREATE_SNAPSHOT_BAD_REQUEST, "'name' must be 1 to 255 characters (no NUL)");
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
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "'" + field + ".type' of a snapshot must be sticky or persistent");
        }
        if (p.deleteEvent() != null) throw ApiException.badRequest("'" + field + ".deleteEvent' applies to ephemeral VMs only");
        int priority = p.priority() == null ? Persistence.DEFAULT_PRIORITY : p.priority();
        if (priority < 0 || priority > 10) throw ApiException.badRequest("'" + field + ".priority' must be between 0 and 10");
        if (p.type().equals("persistent") && p.priority() != null) {
            throw ApiException.badRequest("'" + field + ".priority' applies to sticky snapshots only");
        }
        return new Persistence(p.type().equals("sticky") ? Persistence.Type.STICKY : Persistence.Type.PERSISTENT, priority, null);
    }
}
