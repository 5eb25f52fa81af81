package db.migration.sqlite;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import org.flywaydb.core.api.migration.BaseJavaMigration;
import org.flywaydb.core.api.migration.Context;

/**
 * Adds 'pulling' (a create waiting for its image) to the status CHECK of {@code vms}. SQLite cannot alter a CHECK
 * constraint, so the table is rebuilt. In Java rather than SQL because migrations may be applied out of order: a
 * database may already have columns a later migration added (V6's last_network_activity_at), and a rebuild with a
 * fixed column list would drop them. So the new table is the current definition with the status list replaced, and
 * its indexes are recreated as they were.
 */
public class V5__pulling extends BaseJavaMigration {
    private static final String OLD_FIRST = "CHECK (status IN ('creating',";
    private static final String NEW_FIRST = "CHECK (status IN ('pulling','creating',";

    @Override
    public void migrate(Context context) throws SQLException {
        Connection c = context.getConnection();
        String table = single(c, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'vms'");
        if (table.contains("'pulling'")) return;
        if (!table.contains(OLD_FIRST)) {
            throw new SQLException("vms has an unexpected status constraint; cannot add 'pulling': " + table);
        }
        List<String> indexes = new ArrayList<>();
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'vms'"
                     + " AND sql IS NOT NULL")) {
            while (rs.next()) indexes.add(rs.getString(1));
        }
        String created = table.replace(OLD_FIRST, NEW_FIRST)
                .replaceFirst("(?i)^CREATE TABLE\\s+\"?vms\"?", "CREATE TABLE vms_new");
        try (Statement s = c.createStatement()) {
            s.execute(created);
            // same definition, same column order
            s.execute("INSERT INTO vms_new SELECT * FROM vms");
            s.execute("DROP TABLE vms");
            s.execute("ALTER TABLE vms_new RENAME TO vms");
            for (String index : indexes) s.execute(index);
        }
    }

    private static String single(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            if (!rs.next()) throw new SQLException("no result for " + sql);
            return rs.getString(1);
        }
    }
}
