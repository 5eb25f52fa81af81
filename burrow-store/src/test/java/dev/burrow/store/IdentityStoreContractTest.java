package dev.burrow.store;

import dev.burrow.core.store.IdentityStore;
import dev.burrow.core.testing.IdentityStoreContract;

/** {@link IdentityStoreContract} on a database; subclasses provide the URL. */
abstract class IdentityStoreContractTest extends IdentityStoreContract {
    Database db;

    abstract String jdbcUrl() throws Exception;

    @Override
    protected IdentityStore openStore() throws Exception {
        db = Database.open(jdbcUrl(), null, null);
        return new SqlIdentityStore(db);
    }

    @Override
    protected void closeStore() {
        db.close();
    }
}
