package dev.burrow.core.driver;

/**
 * What a driver can do, so the core offers only what the backend honours (e.g. memory snapshots need
 * CRIU or a micro-VM; a runc driver on this kernel cannot checkpoint memory).
 */
public record DriverCapabilities(
        boolean suspendKeepsMemory,
        boolean diskSnapshots,
        boolean memorySnapshots,
        boolean diskQuota,
        boolean liveResize) {
}
