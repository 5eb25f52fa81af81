package dev.burrow.api;

import java.time.Instant;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * A VM as {@code GET /v1/vms/{id}} and the list return it. {@code state} is the Freestyle state
 * (starting, running, suspending, suspended, stopped); {@code status} is Burrow's exact lifecycle status;
 * {@code snapshotId} is the snapshot the VM's disk started from (a fork's or a create from a snapshot);
 * {@code pull} is the progress of the image fetch a VM in status {@code pulling} waits for.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record VmInfo(
        String id,
        String vmInstanceId,
        String state,
        String status,
        String statusReason,
        Instant createdAt,
        Instant lastActivityAt,
        Instant lastNetworkActivity,
        CreateVmRequest.Persistence persistence,
        String image,
        int vcpuCount,
        int memSizeMb,
        Integer idleTimeoutSeconds,
        Map<String, String> labels,
        String node,
        boolean deleted,
        Integer rootfsSizeMb,
        String snapshotId,
        ImageApiTypes.ImagePull pull) {
}
