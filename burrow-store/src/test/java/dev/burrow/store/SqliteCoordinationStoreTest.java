package dev.burrow.store;

import java.nio.file.Path;

import org.junit.jupiter.api.io.TempDir;

/** The coordination contract on SQLite: two pools on one file (one server is the supported setup; this proves the statements). */
class SqliteCoordinationStoreTest extends CoordinationStoreContractTest {
    @TempDir
    Path dir;

    @Override
    String jdbcUrl() {
        return "jdbc:sqlite:" + dir.resolve("burrow.db");
    }
}
