package dev.burrow.core.store;

import dev.burrow.core.testing.DomainStoreContract;
import dev.burrow.core.testing.InMemoryDomainStore;

/** The in-memory domain-mapping store the HTTP test harness runs on keeps the SQL store's contract. */
class InMemoryDomainStoreTest extends DomainStoreContract {
    @Override
    protected DomainStore openStore() {
        return new InMemoryDomainStore();
    }
}
