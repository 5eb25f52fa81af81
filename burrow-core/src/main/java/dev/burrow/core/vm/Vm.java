package dev.burrow.core.vm;

import java.time.Instant;

/**
 * One VM as the store knows it. {@code version} increases on every write; updates are conditional on it
 * (optimistic concurrency), so two writers can never both win. {@code lastNetworkActivityAt} is when traffic last
 * moved to or from the VM through Burrow (preview proxy, SSH port forwards), null before any.
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
        long version,
        Instant lastNetworkActivityAt) {

    /** A VM without network activity (the shape before it was recorded). */
    public Vm(String id, VmSpec spec, VmStatus status, String statusReason, Instant createdAt, Instant updatedAt,
              Instant lastActivityAt, String node, String driver, String driverHandle, long version) {
        this(id, spec, status, statusReason, createdAt, updatedAt, lastActivityAt, node, driver, driverHandle, version,
                null);
    }

    public Vm withStatus(VmStatus next, String reason, Instant at) {
        return new Vm(id, spec, next, reason, createdAt, at, lastActivityAt, node, driver, driverHandle, version,
                lastNetworkActivityAt);
    }

    public Vm withHandle(String handle) {
        return new Vm(id, spec, status, statusReason, createdAt, updatedAt, lastActivityAt, node, driver, handle,
                version, lastNetworkActivityAt);
    }

    public Vm withSpec(VmSpec newSpec) {
        return new Vm(id, newSpec, status, statusReason, createdAt, updatedAt, lastActivityAt, node, driver,
                driverHandle, version, lastNetworkActivityAt);
    }
}
