package dev.burrow.api;

/**
 * {@code GET} and {@code PUT /v1/vms/{id}/network}: where the VM sits on the VM network and its policy.
 *
 * @param address the VM's IPv4 address (null when the server runs VMs without networking)
 * @param gateway the VM's default gateway, which is also its DNS server
 */
public record VmNetworkResponse(String vmId, String address, String gateway, NetworkPolicyBody policy) { }
