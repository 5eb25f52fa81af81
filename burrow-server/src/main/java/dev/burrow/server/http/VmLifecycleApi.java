package dev.burrow.server.http;

import static dev.burrow.server.http.VmRequests.checkStartFields;
import static dev.burrow.server.http.VmRequests.optionalBody;
import static dev.burrow.server.http.VmRequests.vmId;
import static dev.burrow.server.http.VmResponses.state;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.burrow.api.LifecycleResponses;
import dev.burrow.api.ListVmsResponse;
import dev.burrow.api.VmInfo;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.vm.Vm;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * One VM and its lifecycle: list, get, delete, start, stop, kill, suspend, ping. Registered after {@link SnapshotApi}
 * (see there).
 */
public final class VmLifecycleApi implements ApiModule {
    private static final String CAUSE = "api";

    private final LifecycleCoordinator lifecycle;

    public VmLifecycleApi(LifecycleCoordinator lifecycle) {
        this.lifecycle = lifecycle;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, "/v1/vms", "List VMs (filter with label.<key>=<value>; every VM unless paged with limit and offset)", null,
                ListVmsResponse.class, Access.API_KEY, this::list);
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
        table.add(cfg, HandlerType.POST, "/v1/vms/{vm_id}/ping",
                "Record activity on a VM (keeps its idle timeout from firing)", null, LifecycleResponses.PingResponse.class, Access.API_KEY, ctx -> {
                    Vm vm = lifecycle.ping(vmId(ctx));
                    ctx.json(new LifecycleResponses.PingResponse(vm.id(), state(vm), java.time.Instant.now()));
                });
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

    private VmInfo info(Vm vm) {
        return VmResponses.info(lifecycle, vm);
    }

    private static int count(Map<String, Long> byState, String state) {
        return byState.getOrDefault(state, 0L).intValue();
    }
}
