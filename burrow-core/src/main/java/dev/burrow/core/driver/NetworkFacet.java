package dev.burrow.core.driver;

import dev.burrow.core.net.NetworkPolicy;

/** A network of each sandbox's own, with an egress policy. Without it sandboxes only have a loopback. */
public interface NetworkFacet {

    /** Replaces a sandbox's network policy: at once on a running or suspended sandbox, and kept for its next start. */
    void updateNetwork(String vmId, NetworkPolicy policy);

    /** The sandbox's address and gateway on the VM network, or null when it has none (created before the network). */
    NetworkInfo networkInfo(String vmId);

    /**
     * Bytes the VM's network interface has moved so far (received plus sent, as the host counts them), or -1 when the
     * VM has no interface. A counter: it starts again at 0 when the interface is recreated.
     */
    long networkBytes(String vmId);
}
