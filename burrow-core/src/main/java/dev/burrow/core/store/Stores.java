package dev.burrow.core.store;

import java.util.Objects;

/**
 * The store ports a server runs on, as one set: the SQL stores over one database in production, the in-memory ones
 * of {@code dev.burrow.core.testing} in the HTTP test harness.
 */
public record Stores(VmStore vms, SnapshotStore snapshots, ApiKeyStore apiKeys, IdentityStore identities,
                     DomainStore domains, NodeStore nodes) {
    public Stores {
        Objects.requireNonNull(vms, "vms");
        Objects.requireNonNull(snapshots, "snapshots");
        Objects.requireNonNull(apiKeys, "apiKeys");
        Objects.requireNonNull(identities, "identities");
        Objects.requireNonNull(domains, "domains");
        Objects.requireNonNull(nodes, "nodes");
    }
}
