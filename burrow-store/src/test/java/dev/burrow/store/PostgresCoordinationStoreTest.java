package dev.burrow.store;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The coordination contract on a real PostgreSQL server: two pools on one fresh database per test, as two servers. */
class PostgresCoordinationStoreTest extends CoordinationStoreContractTest {
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
