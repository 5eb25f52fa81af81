package dev.burrow.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code GET /v1/vms/{id}/ports}: the VM's exposed ports and how to reach them through the preview proxy.
 *
 * @param ports each with its host-routed {@code url}, the path-routed {@code pathUrl} (no wildcard DNS needed),
 *              and for a private port its {@code token} (header {@code X-Burrow-Preview-Token}, or once as
 *              {@code ?burrow_token=}, which sets a cookie); {@code httpsUrl} when the proxy serves HTTPS
 * @param domains the custom domains mapped to the VM (public), with the URL each is served at
 */
public record VmPortsResponse(String vmId, List<ExposedPort> ports, List<MappedDomain> domains) {
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ExposedPort(int port, int targetPort, @JsonProperty("public") boolean isPublic, String url, String pathUrl,
                              String httpsUrl, String token) { }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record MappedDomain(String domain, int vmPort, String url, String httpsUrl) { }
}
