package dev.burrow.core.access;

import java.time.Instant;

/**
 * Someone (a person, an agent) who may be granted access to VMs. {@code managed} identities are made by Burrow
 * itself rather than through the API; the Freestyle API lists them only when asked to.
 */
public record Identity(String id, boolean managed, Instant createdAt) { }
