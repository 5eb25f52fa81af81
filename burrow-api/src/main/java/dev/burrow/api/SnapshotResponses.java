package dev.burrow.api;

import java.time.Instant;
import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/** Shapes of the snapshot, fork and resize routes, as the Freestyle SDK declares them. */
public final class SnapshotResponses {
    private SnapshotResponses() { }

    /** {@code POST /v1/vms/{id}/snapshot}; {@code persistence.type} may be sticky or persistent. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record SnapshotRequest(String name, CreateVmRequest.Persistence persistence) { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SnapshotResponse(String snapshotId, String sourceVmId, String sourceVmInstanceId) { }

    /** {@code POST /v1/vms/{id}/fork}: how many VMs to make (default 1). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ForkRequest(Integer count) { }

    public record ForkResponse(String vmId, List<Fork> forks) { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Fork(String id, List<String> domains, String consoleUrl) { }

    /**
     * One entry of {@code GET /v1/vms/snapshots}. {@code failed} marks a recorded failed template build (no disk);
     * {@code deleted} is always false (a deleted snapshot is gone). Burrow adds {@code image}, {@code lastUsedAt} (the
     * eviction LRU order), {@code templateHash} (template builds' cache key) and {@code user} (the default user of VMs
     * made from it, a Dockerfile's USER).
     */
    public record SnapshotInfo(String snapshotId, String sourceVmId, Instant createdAt, String name, boolean failed,
                               String failureReason, boolean deleted, SnapshotPersistence snapshotPersistence,
                               Integer vcpuCount, Integer memSizeMib, Integer rootfsSizeMb, String image,
                               Instant lastUsedAt, String templateHash, String user) { }

    /** {@code {type: "sticky", priority}} or {@code {type: "persistent"}}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SnapshotPersistence(String type, Integer priority) { }

    /**
     * {@code POST /v1/vms/snapshots}: a snapshot built from {@code template} (the create request's fields, plus
     * {@code baseImage: {dockerfileContent}}, {@code discriminator} and {@code skipCache}).
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record CreateSnapshotRequest(String name, java.util.Map<String, Object> template,
                                        CreateVmRequest.Persistence persistence) { }

    /** {@code built} (Burrow's addition) is false when the snapshot came from the template cache. */
    public record CreateSnapshotResponse(String snapshotId, boolean built) { }

    /** {@code PATCH /v1/vms/snapshots/{id}}: {@code name} (the SDK's field) and Burrow's {@code persistence}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record PatchSnapshotRequest(String name, CreateVmRequest.Persistence persistence) { }

    public record PatchSnapshotResponse(@JsonProperty("snapshot_id") String snapshotId, String name,
                                        SnapshotPersistence snapshotPersistence) { }

    public record ListSnapshotsResponse(List<SnapshotInfo> snapshots, int totalCount, int failedCount, int deletedCount) { }

    public record DeleteSnapshotResponse(@JsonProperty("snapshot_id") String snapshotId) { }

    /** {@code POST /v1/vms/{id}/resize}: fields left out keep their current value. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ResizeRequest(Double memSizeGb, Integer memSizeMb, Double rootfsSizeGb, Integer vcpuCount) { }

    /** The SDK declares an empty object. */
    public record ResizeResponse() { }
}
