package dev.burrow.store;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The same store contract on a real PostgreSQL server, one fresh database per test. */
class PostgresDomainStoreTest extends DomainStoreContractTest {
    static PostgresCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = PostgresCluster.start();
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster != null) cluster.close();
    }

    @Override
    String jdbcUrl() throws Exception {
        return cluster.newDatabase();
    }
}
