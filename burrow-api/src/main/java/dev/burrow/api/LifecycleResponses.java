package dev.burrow.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/** Responses of start, stop, suspend, kill and delete, in the shapes the Freestyle SDK declares. */
public final class LifecycleResponses {
    private LifecycleResponses() { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record StartResponse(String id, List<String> domains, @JsonProperty("console_url") String consoleUrl,
                                String state) { }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record StartRequest(Integer idleTimeoutSeconds, Integer readySignalTimeoutSeconds,
                               Boolean waitForReadySignal, Long activityThresholdBytes) { }

    public record StopResponse(String vmId, String vmInstanceId, String state) { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SuspendResponse(String id, String vmInstanceId, String snapshotLayerId, String state) { }

    public record IdResponse(String id, String state) { }

    /** {@code POST /v1/vms/{id}/ping}. */
    public record PingResponse(String id, String state, java.time.Instant lastActivityAt) { }
}
