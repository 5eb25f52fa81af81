package dev.burrow.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.configuration.Configuration;
import org.flywaydb.core.api.migration.Context;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import db.migration.sqlite.V5__pulling;

/**
 * V5 lands after V6 and V7 on databases that already have them (migrations are applied out of order): its rebuild of
 * {@code vms} must keep the column V6 added, its data and the indexes, and only widen the status constraint.
 */
class SqlitePullingMigrationTest {

    @Test
    void appliedAfterALaterColumnWasAddedItKeepsTheColumnAndItsData(@TempDir Path dir) throws Exception {
        String url = "jdbc:sqlite:" + dir.resolve("d.db");
        Flyway.configure().dataSource(url, null, null).locations("classpath:db/migration/sqlite").target("4").load().migrate();
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            // what V6 did on a database that got it before V5
            s.execute("ALTER TABLE vms ADD COLUMN last_network_activity_at INTEGER");
            s.execute("INSERT INTO vms (id, status, status_reason, spec, created_at, updated_at, last_activity_at, node,"
                    + " driver, driver_handle, version, last_network_activity_at)"
                    + " VALUES ('aaaaaaaaaaaaaaaaaaaa', 'running', NULL, '{}', 1, 2, 3, 'n', 'runc', 'h', 0, 42)");
            assertThatThrownBy(() -> s.execute("UPDATE vms SET status = 'pulling'")).hasMessageContaining("CHECK");

            new V5__pulling().migrate(new Context() {
                @Override
                public Configuration getConfiguration() {
                    return null;
                }

                @Override
                public Connection getConnection() {
                    return c;
                }
            });

            try (ResultSet rs = s.executeQuery("SELECT status, last_network_activity_at, driver_handle FROM vms")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("running");
                assertThat(rs.getLong(2)).isEqualTo(42);
                assertThat(rs.getString(3)).isEqualTo("h");
            }
            s.execute("UPDATE vms SET status = 'pulling'");
            assertThatThrownBy(() -> s.execute("UPDATE vms SET status = 'bogus'")).hasMessageContaining("CHECK");
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'vms'"
                    + " AND name = 'vms_status'")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
        }
    }
}
