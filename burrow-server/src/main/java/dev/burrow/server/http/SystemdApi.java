package dev.burrow.server.http;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.function.BiFunction;

import dev.burrow.api.SystemdApiTypes;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.service.ServiceManager;
import dev.burrow.core.vm.ServiceSpec;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/** The {@code /v1/vms/{id}/systemd/...} routes the Freestyle SDK's {@code vm.systemd} uses. */
public final class SystemdApi implements ApiModule {
    private static final int DEFAULT_LOG_LINES = 100;
    private static final int MAX_LOG_LINES = 100_000;
    private static final int MAX_IDS = 100;

    private final ServiceManager services;

    public SystemdApi(ServiceManager services) {
        this.services = services;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        String base = "/v1/vms/{vm_id}/systemd";
        table.add(cfg, HandlerType.GET, base + "/services", "List the VM's services with their state", null,
                SystemdApiTypes.ServiceList.class, Access.API_KEY, ctx -> ctx.json(new SystemdApiTypes.ServiceList(
                        services.list(VmRequests.vmId(ctx)).stream().map(v -> new SystemdApiTypes.ServiceSummary(v.spec().name(),
                                v.spec().mode().name().toLowerCase(java.util.Locale.ROOT), v.spec().enable(), v.activeState(),
                                v.subState())).toList())));
        table.add(cfg, HandlerType.POST, base + "/services",
                "Add a service (409 SERVICE_ALREADY_EXISTS for a taken name); started now when enabled and the VM runs",
                SystemdApiTypes.ServiceRequest.class, SystemdApiTypes.CreateServiceResponse.class, Access.API_KEY, this::add);
        table.add(cfg, HandlerType.DELETE, base + "/services/{service_id}",
                "Stop a service (and those that require it) and remove it", null,
                SystemdApiTypes.DeleteServiceResponse.class, Access.API_KEY, ctx -> {
                    var o = services.remove(VmRequests.vmId(ctx), ctx.pathParam("service_id"));
                    ctx.json(new SystemdApiTypes.DeleteServiceResponse(o.success(), o.message()));
                });
        table.add(cfg, HandlerType.GET, base + "/services/{service_id}/status",
                "A service's state: activeState, subState (systemd's words) and a description with its last result", null,
                SystemdApiTypes.ServiceStatus.class, Access.API_KEY, this::status);
        table.add(cfg, HandlerType.GET, base + "/services/{service_id}/logs",
                "A service's output, one entry per line, oldest first (query: lines, default 100; since, ISO-8601 or epoch seconds)",
                null, SystemdApiTypes.ServiceLogs.class, Access.API_KEY, this::logs);
        table.add(cfg, HandlerType.POST, base + "/start", "Start services (and the services they require)",
                SystemdApiTypes.ServiceIdsRequest.class, SystemdApiTypes.ServiceResults.class, Access.API_KEY,
                ctx -> many(ctx, services::start));
        table.add(cfg, HandlerType.POST, base + "/stop",
                "Stop services (TERM, KILL after timeoutSec or 10 s) and the services that require them",
                SystemdApiTypes.ServiceIdsRequest.class, SystemdApiTypes.ServiceResults.class, Access.API_KEY,
                ctx -> many(ctx, services::stop));
        table.add(cfg, HandlerType.POST, base + "/restart", "Restart services (start limits are reset)",
                SystemdApiTypes.ServiceIdsRequest.class, SystemdApiTypes.ServiceResults.class, Access.API_KEY,
                ctx -> many(ctx, services::restart));
    }

    private void add(Context ctx) {
        String vmId = VmRequests.vmId(ctx);
        var req = VmRequests.requiredBody(ctx, SystemdApiTypes.ServiceRequest.class);
        ServiceSpec spec = ServiceRequests.toSpec(req, "body", ErrorCode.SERVICE_BAD_REQUEST);
        var o = services.add(vmId, spec);
        ctx.json(new SystemdApiTypes.CreateServiceResponse(o.success(), o.message(), spec.name()));
    }

    private void status(Context ctx) {
        var v = services.status(VmRequests.vmId(ctx), ctx.pathParam("service_id"));
        var s = v.spec();
        var rt = v.runtime();
        StringBuilder d = new StringBuilder(s.mode() == ServiceSpec.Mode.ONESHOT ? "oneshot" : "service").append(' ')
                .append(s.name()).append(": ");
        if (rt.state().equals("-")) {
            d.append(s.enable() ? "not started in this boot" : "not started (not enabled)");
        } else {
            d.append(rt.state());
            if (!rt.result().equals("-")) d.append(" (result ").append(rt.result()).append(", exit status ").append(rt.exitCode()).append(')');
            if (rt.since() != null) d.append(" since ").append(rt.since());
        }
        if (v.statusText() != null) d.append("; status: \"").append(v.statusText()).append('"');
        if (s.readySignal()) d.append("; readySignal");
        if (s.watchdogSec() > 0) d.append("; watchdog ").append(s.watchdogSec()).append(" s");
        d.append("; restart=").append(s.restart().policy().wire()).append("; exec: ").append(String.join(" && ", s.exec()));
        String desc = d.length() > 1000 ? d.substring(0, 1000) + "…" : d.toString();
        ctx.json(new SystemdApiTypes.ServiceStatus(s.name(), v.activeState(), v.subState(), "loaded", desc));
    }

    private void logs(Context ctx) {
        int lines = DEFAULT_LOG_LINES;
        String l = ctx.queryParam("lines");
        if (l != null) {
            try {
                lines = Integer.parseInt(l);
            } catch (NumberFormatException e) {
                lines = -1;
            }
            if (lines < 1 || lines > MAX_LOG_LINES) {
                throw BurrowException.of(ErrorCode.SERVICE_BAD_REQUEST, "'lines' must be an integer between 1 and " + MAX_LOG_LINES);
            }
        }
        Instant since = null;
        String s = ctx.queryParam("since");
        if (s != null && !s.isEmpty()) {
            try {
                since = s.chars().allMatch(Character::isDigit) && s.length() < 13 ? Instant.ofEpochSecond(Long.parseLong(s))
                        : Instant.parse(s);
            } catch (DateTimeParseException | NumberFormatException e) {
                throw BurrowException.of(ErrorCode.SERVICE_BAD_REQUEST, "'since' must be an ISO-8601 instant "
                        + "(2026-01-02T03:04:05Z) or epoch seconds");
            }
        }
        var name = ServiceManager.normalize(ctx.pathParam("service_id"));
        var entries = services.logs(VmRequests.vmId(ctx), name, lines, since).stream()
                .map(e -> new SystemdApiTypes.LogEntry(e.message(), e.timestamp(), null, name + ".service")).toList();
        ctx.json(new SystemdApiTypes.ServiceLogs(entries));
    }

    private void many(Context ctx, BiFunction<String, List<String>, List<ServiceManager.Outcome>> op) {
        String vmId = VmRequests.vmId(ctx);
        var req = VmRequests.requiredBody(ctx, SystemdApiTypes.ServiceIdsRequest.class);
        if (req.services() == null || req.services().isEmpty()) {
            throw BurrowException.of(ErrorCode.SERVICE_BAD_REQUEST, "'services' must be a non-empty list of {id}");
        }
        if (req.services().size() > MAX_IDS) throw BurrowException.of(ErrorCode.SERVICE_BAD_REQUEST, "at most " + MAX_IDS + " services per request");
        List<String> ids = req.services().stream().map(i -> {
            if (i == null || i.id() == null || i.id().isBlank()) {
                throw BurrowException.of(ErrorCode.SERVICE_BAD_REQUEST, "every entry of 'services' needs an 'id'");
            }
            return i.id();
        }).toList();
        var results = op.apply(vmId, ids).stream()
                .map(o -> new SystemdApiTypes.ServiceResult(o.serviceId(), o.success(), o.message())).toList();
        ctx.json(new SystemdApiTypes.ServiceResults(results));
    }
}
