package dev.burrow.api;

import java.time.Instant;
import java.util.List;

/** {@code GET /v1/vms/{vm_id}/events}: the VM's transitions, oldest first. */
public final class VmEventResponses {
    private VmEventResponses() { }

    public record VmEventView(long id, Instant at, String from, String to, String op, String cause, String detail,
                              Long durationMs) { }

    public record VmEventsResponse(List<VmEventView> events) { }
}
