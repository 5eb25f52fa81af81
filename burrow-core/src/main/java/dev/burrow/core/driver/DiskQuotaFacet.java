package dev.burrow.core.driver;

/**
 * A quota on each sandbox's root filesystem ({@link SandboxSpec#rootfsSizeMb()} at create, changed later here).
 * Present only where the host's storage can enforce one.
 */
public interface DiskQuotaFacet {

    /** Changes the disk quota of the sandbox's root filesystem. */
    void resizeDisk(String vmId, int rootfsSizeMb);
}
