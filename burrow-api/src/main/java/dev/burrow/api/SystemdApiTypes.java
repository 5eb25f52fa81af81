package dev.burrow.api;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Shapes of the {@code systemd} create field and the {@code /v1/vms/{id}/systemd/...} routes, as the Freestyle SDK
 * declares them. Burrow supervises these services itself (the images run no systemd), so the systemd words mean
 * what they mean there: {@code mode} oneshot|service, restart policies, start limits, ActiveState/SubState.
 */
public final class SystemdApiTypes {
    private SystemdApiTypes() { }

    /** The create field {@code systemd}. {@code patchedServices} (patches to the image's own units) is refused. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record SystemdConfig(List<ServiceRequest> services, List<Map<String, Object>> patchedServices) { }

    /** One service: the create field's entry and the body of {@code POST /v1/vms/{id}/systemd/services}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ServiceRequest(
            String name,
            String mode,
            List<String> exec,
            Map<String, String> env,
            String user,
            String group,
            String workdir,
            List<String> after,
            List<String> requires,
            List<String> onFailure,
            List<String> wantedBy,
            Boolean enable,
            Integer timeoutSec,
            Boolean deleteAfterSuccess,
            Boolean remainAfterExit,
            Boolean readySignal,
            Integer watchdogSec,
            RestartPolicy restartPolicy) { }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record RestartPolicy(String policy, Double restartSec, Integer startLimitBurst, Integer startLimitIntervalSec) { }

    public record CreateServiceResponse(boolean success, String message, String serviceName) { }

    public record DeleteServiceResponse(boolean success, String message) { }

    /** Body of {@code POST /v1/vms/{id}/systemd/start|stop|restart}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ServiceIdsRequest(List<ServiceId> services) { }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ServiceId(String id) { }

    public record ServiceResults(List<ServiceResult> results) { }

    public record ServiceResult(String serviceId, boolean success, String message) { }

    /** {@code GET /v1/vms/{id}/systemd/services}: {@code name} is the SDK's field, the rest Burrow's additions. */
    public record ServiceList(List<ServiceSummary> services) { }

    public record ServiceSummary(String name, String mode, boolean enabled, String activeState, String subState) { }

    /** {@code GET …/status}: systemd's LoadState/ActiveState/SubState and a human-readable description. */
    public record ServiceStatus(String name, String activeState, String subState, String loadState, String description) { }

    public record ServiceLogs(List<LogEntry> logs) { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record LogEntry(String message, Instant timestamp, String priority, String unit) { }
}
