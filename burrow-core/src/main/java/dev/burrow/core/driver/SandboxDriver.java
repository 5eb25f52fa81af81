package dev.burrow.core.driver;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * What a sandbox backend (runc container today, micro-VM or pod later) must do: a narrow core (a sandbox's life and
 * what exists on the host) plus capability facets, each an {@link Optional} that is empty when the backend has no such
 * capability. No method throws "unsupported": a caller that needs a facet the driver lacks turns its absence into a
 * 4xx {@link #unsupported} error. Only the {@code LifecycleCoordinator} calls these (the background loops, the SSH
 * gateway and the service manager go through it or through a facet it hands out).
 *
 * <p>Every call is idempotent: creating what exists, stopping what is stopped and destroying what is gone all succeed.
 * Sandboxes are addressed by the Burrow VM id; the driver derives its own host names from it and labels everything it
 * makes with it, so that {@link #list()} can report what really exists.
 *
 * <p>Suspend and resume are in the core, not a facet: idle suspension and wake-on-request are part of every VM's
 * life (the coordinator's wake path runs on every data-plane call), and every backend can pause (cgroup freezer,
 * VM pause, pod pause).
 */
public interface SandboxDriver extends AutoCloseable {

    /** Short name stored with each VM ("runc"). */
    String name();

    /** What the driver offers, derived from its facets (drivers do not override it). */
    default DriverCapabilities capabilities() {
        return DriverCapabilities.of(this);
    }

    /**
     * Creates the sandbox's disk and container and starts its init process. Returns the host handle. The spec's
     * image is what {@link ImageFacet#prepareImage} resolved, or the reference as given for a driver without images.
     */
    String create(SandboxSpec spec);

    /** Starts a stopped sandbox again on its kept disk. No-op when already running. */
    void start(String vmId);

    /** Ends every process of the sandbox (TERM, then KILL after {@code grace}); the disk is kept. */
    void stop(String vmId, Duration grace);

    /** Freezes every process; memory is kept. */
    void suspend(String vmId);

    /** Thaws a suspended sandbox. */
    void resume(String vmId);

    /** Removes everything the sandbox holds on the host: container, mounts, cgroups, network, directories. */
    void destroy(String vmId);

    /** What the host says about one sandbox right now. */
    SandboxState state(String vmId);

    /** Everything this driver finds on the host that carries a Burrow label (for reconciliation). */
    List<HostResource> list();

    @Override
    void close();

    // ---- capability facets: empty when the driver has no such capability ----

    /** A local image cache; without it image references go to {@link #create} as they are. */
    default Optional<ImageFacet> images() {
        return Optional.empty();
    }

    /** Commands, interactive processes and loopback connections in a sandbox. */
    default Optional<ProcessFacet> processes() {
        return Optional.empty();
    }

    /** Reading and writing a sandbox's files from the host. */
    default Optional<FileFacet> files() {
        return Optional.empty();
    }

    /** Disk snapshots (and so forks). */
    default Optional<SnapshotFacet> snapshots() {
        return Optional.empty();
    }

    /** A network of each sandbox's own with an egress policy. */
    default Optional<NetworkFacet> network() {
        return Optional.empty();
    }

    /** The host end of the sd_notify protocol for services in VMs. */
    default Optional<ServiceNotify> serviceNotify() {
        return Optional.empty();
    }

    /** Live cpu/memory limits and disk usage. */
    default Optional<ResourceFacet> resources() {
        return Optional.empty();
    }

    /** Root filesystem quotas. */
    default Optional<DiskQuotaFacet> diskQuota() {
        return Optional.empty();
    }

    /**
     * The error for a request that needs a capability this driver lacks: a client's request this node cannot honour,
     * so a 4xx, never a 5xx.
     */
    static BurrowException unsupported(String driverName, String what) {
        return new BurrowException(ErrorCode.UNSUPPORTED_OPERATION, "the " + driverName + " driver cannot " + what);
    }
}
