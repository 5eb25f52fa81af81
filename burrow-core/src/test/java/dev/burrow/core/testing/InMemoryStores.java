package dev.burrow.core.testing;

import dev.burrow.core.store.Stores;

/** A fresh set of in-memory stores: what the HTTP test harness runs on instead of a database. */
public final class InMemoryStores {
    private InMemoryStores() { }

    public static Stores create() {
        return new Stores(new InMemoryVmStore(), new InMemorySnapshotStore(), new InMemoryApiKeyStore(),
                new InMemoryIdentityStore(), new InMemoryDomainStore(), new InMemoryNodeStore());
    }
}
