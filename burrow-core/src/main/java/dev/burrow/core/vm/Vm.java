package dev.burrow.core.vm;

import java.time.Instant;

/**
 * One VM as the store knows it. {@code version} increases on every write; updates are conditional on it
 * (optimistic concurrency), so two writers can never both win.
 */
public record Vm(
        String id,
        VmSpec spec,
        VmStatus status,
        String statusReason,
        Instant createdAt,
        Instant updatedAt,
        Instant lastActivityAt,
        String node,
        String driver,
        String driverHandle,
        long version) {

    public Vm withStatus(VmStatus next, String reason, Instant at) {
        return new Vm(id, spec, next, reason, createdAt, at, lastActivityAt, node, driver, driverHandle, version);
    }

    public Vm withHandle(String handle) {
        return new Vm(id, spec, status, statusReason, createdAt, updatedAt, lastActivityAt, node, driver, handle,
                version);
    }

    public Vm withSpec(VmSpec newSpec) {
        return new Vm(id, newSpec, status, statusReason, createdAt, updatedAt, lastActivityAt, node, driver,
                driverHandle, version);
    }
}
