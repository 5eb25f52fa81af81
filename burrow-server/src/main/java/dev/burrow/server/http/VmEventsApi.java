package dev.burrow.server.http;

import static dev.burrow.server.http.VmRequests.vmId;

import dev.burrow.api.VmEventResponses;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.HandlerType;

/** A VM's transition history and the server-sent stream of every transition as it commits. */
public final class VmEventsApi implements ApiModule {
    private final LifecycleCoordinator lifecycle;
    private final io.javalin.http.sse.SseHandler sse;

    public VmEventsApi(LifecycleCoordinator lifecycle, EventBroadcaster events) {
        this.lifecycle = lifecycle;
        this.sse = new io.javalin.http.sse.SseHandler(events::subscribe);
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, "/v1/vms/{vm_id}/events",
                "The VM's status changes, oldest first: intent and outcome of every transition and who caused it",
                null, VmEventResponses.VmEventsResponse.class, Access.API_KEY, ctx -> {
                    int limit = QueryParams.intParam(ctx, "limit", 1000, 1, 10_000);
                    var list = lifecycle.events(vmId(ctx), limit).stream().map(e -> new VmEventResponses.VmEventView(e.id(), e.at(),
                            e.from() == null ? null : e.from().dbName(), e.to().dbName(), e.op(), e.cause(), e.detail(),
                            e.durationMs())).toList();
                    ctx.json(new VmEventResponses.VmEventsResponse(list));
                });
        table.add(cfg, HandlerType.GET, "/v1/events",
                "Server-sent events: every VM transition as it commits (event 'transition', JSON data)", null, null,
                Access.API_KEY, ctx -> {
                    String accept = ctx.header("Accept");
                    if (accept == null || !accept.contains("text/event-stream")) {
                        throw new BurrowException(ErrorCode.NOT_ACCEPTABLE,
                                "this is a server-sent-event stream: send 'Accept: text/event-stream'");
                    }
                    sse.handle(ctx);
                });
    }
}
