package dev.burrow.store;

import dev.burrow.core.store.DomainStore;
import dev.burrow.core.testing.DomainStoreContract;

/** {@link DomainStoreContract} on a database; subclasses provide the URL. */
abstract class DomainStoreContractTest extends DomainStoreContract {
    Database db;

    abstract String jdbcUrl() throws Exception;

    @Override
    protected DomainStore openStore() throws Exception {
        db = Database.open(jdbcUrl(), null, null);
        return new SqlDomainStore(db);
    }

    @Override
    protected void closeStore() {
        db.close();
    }
}
