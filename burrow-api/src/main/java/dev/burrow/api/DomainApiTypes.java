package dev.burrow.api;

import java.time.Instant;

/** Wire types of {@code /domains/v1/mappings} (Freestyle's domain-mapping API, VM mappings only). */
public final class DomainApiTypes {
    private DomainApiTypes() { }

    /**
     * {@code POST /domains/v1/mappings/{domain}}: {@code vmId} is required ({@code deploymentId} is Freestyle's
     * serverless deployments, which Burrow does not have); {@code vmPort} defaults to 443. {@code domain} is what the
     * SDK sends along; when present it must name the path's domain.
     */
    public record MappingRequest(String domain, String deploymentId, String vmId, Integer vmPort) { }

    /**
     * A mapping. {@code deploymentId} and {@code unmappedAt} are always null (a removed mapping is gone);
     * {@code ownershipId} is the allowed domain suffix that permits the mapping, or the domain itself when the server
     * allows any domain (self-hosting has no verified-ownership records).
     */
    public record DomainMappingInfo(String id, String domain, String deploymentId, String vmId, Integer vmPort,
                                    String ownershipId, Instant createdAt, Instant unmappedAt) { }
}
