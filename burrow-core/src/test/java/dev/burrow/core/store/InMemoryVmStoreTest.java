package dev.burrow.core.store;

import dev.burrow.core.testing.InMemoryStores;
import dev.burrow.core.testing.VmStoreContract;

/** The in-memory VM, snapshot and API-key stores the HTTP test harness runs on keep the SQL stores' contract. */
class InMemoryVmStoreTest extends VmStoreContract {
    @Override
    protected Stores openStores() {
        return InMemoryStores.create();
    }
}
