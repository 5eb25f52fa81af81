package dev.burrow.core.domain;

import java.time.Instant;

/**
 * A custom domain routed by the preview proxy to a VM: requests whose Host is {@code domain} reach {@code vmPort}
 * (resolved like a preview port: an exposed port's targetPort when the VM exposes {@code vmPort}, else that port in
 * the VM itself). A domain belongs to at most one VM.
 */
public record DomainMapping(String id, String domain, String vmId, int vmPort, Instant createdAt) {
}
