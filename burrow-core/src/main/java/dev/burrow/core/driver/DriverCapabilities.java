package dev.burrow.core.driver;

/**
 * What a driver can do, so the core offers only what the backend honours (e.g. memory snapshots need CRIU or a
 * micro-VM; a runc driver on this kernel cannot checkpoint memory). Derived from the driver's facets by {@link #of},
 * so it always agrees with them.
 *
 * @param suspendKeepsMemory always true: {@link SandboxDriver#suspend} keeps memory by contract
 * @param diskSnapshots      {@link SandboxDriver#snapshots()} is present
 * @param memorySnapshots    always false: no facet checkpoints memory yet
 * @param diskQuota          {@link SandboxDriver#diskQuota()} is present
 * @param liveResize         {@link SandboxDriver#resources()} is present
 */
public record DriverCapabilities(
        boolean suspendKeepsMemory,
        boolean diskSnapshots,
        boolean memorySnapshots,
        boolean diskQuota,
        boolean liveResize) {

    public static DriverCapabilities of(SandboxDriver driver) {
        return new DriverCapabilities(true, driver.snapshots().isPresent(), false, driver.diskQuota().isPresent(),
                driver.resources().isPresent());
    }
}
