package dev.burrow.store;

import java.nio.file.Path;

import org.junit.jupiter.api.io.TempDir;

class SqliteDomainStoreTest extends DomainStoreContractTest {
    @TempDir
    Path dir;

    @Override
    String jdbcUrl() {
        return "jdbc:sqlite:" + dir.resolve("burrow.db");
    }
}
