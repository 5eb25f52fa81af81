package dev.burrow.core.driver;

/** Changing a sandbox's cpu and memory limits, and measuring what its disk takes. */
public interface ResourceFacet {

    /** Applies new cpu/memory limits to a running (at once) or stopped (at its next start) sandbox. */
    void resize(String vmId, int vcpuCount, int memSizeMb);

    /**
     * Bytes the VM's own disk takes on the host (what it wrote, not the shared image), or -1 when the driver cannot
     * tell for this VM. Storage-pressure eviction sums these.
     */
    long diskUsageBytes(String vmId);
}
