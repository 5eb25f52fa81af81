package dev.burrow.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * A VM's network policy on the wire: the create field {@code network} and the body of
 * {@code PUT /v1/vms/{id}/network} (which replaces the whole policy; omitted fields take their defaults).
 *
 * @param egress         {@code allow-all} (default) or {@code deny-all}: what happens to destinations no list names
 * @param allowCidrs     IPv4 ranges the VM may reach (under deny-all)
 * @param denyCidrs      IPv4 ranges the VM may never reach (checked first, also cuts existing connections)
 * @param allowDomains   names (and their subdomains) the VM's DNS resolves under deny-all; the addresses they resolve
 *                       to become reachable
 * @param denyDomains    names (and subdomains) the VM's DNS never resolves; other DNS servers are then out of reach
 * @param bandwidthMbps  cap per direction in Mbit/s (omit for none)
 * @param maxConnections most connections open at once (omit for none)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record NetworkPolicyBody(String egress, List<String> allowCidrs, List<String> denyCidrs, List<String> allowDomains,
                                List<String> denyDomains, Integer bandwidthMbps, Integer maxConnections) { }
