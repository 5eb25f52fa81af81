package dev.burrow.core.store;

import dev.burrow.core.testing.IdentityStoreContract;
import dev.burrow.core.testing.InMemoryIdentityStore;

/** The in-memory identity store the HTTP test harness runs on keeps the SQL store's contract. */
class InMemoryIdentityStoreTest extends IdentityStoreContract {
    @Override
    protected IdentityStore openStore() {
        return new InMemoryIdentityStore();
    }
}
