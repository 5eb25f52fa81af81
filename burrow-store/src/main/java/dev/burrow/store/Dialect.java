package dev.burrow.store;

import java.util.Properties;

import org.sqlite.SQLiteConfig;

import com.zaxxer.hikari.HikariConfig;

/**
 * The seam between databases (db-scheduler's {@code JdbcCustomization}): which migrations apply, how a connection
 * pool is tuned, and the statements whose best form differs — the claim on a queue-like table. Everything else in
 * the store is portable SQL (upserts with {@code ON CONFLICT … DO UPDATE … WHERE}, {@code RETURNING}: PostgreSQL, and
 * SQLite since 3.35).
 */
public enum Dialect {
    SQLITE("db/migration/sqlite") {
        @Override
        void tune(HikariConfig pool) {
            SQLiteConfig sc = new SQLiteConfig();
            sc.setJournalMode(SQLiteConfig.JournalMode.WAL);
            sc.setSynchronous(SQLiteConfig.SynchronousMode.NORMAL);
            sc.setBusyTimeout(15_000);
            // IMMEDIATE: a transaction takes the write lock at BEGIN, so concurrent writers queue on the busy timeout
            // instead of failing with SQLITE_BUSY on a lock upgrade
            sc.setTransactionMode(SQLiteConfig.TransactionMode.IMMEDIATE);
            sc.enforceForeignKeys(true);
            Properties p = sc.toProperties();
            pool.setDataSourceProperties(p);
            // SQLite has one writer at a time anyway; more connections only add lock waits. Readers (WAL) and
            // the writer still proceed side by side.
            pool.setMaximumPoolSize(4);
        }

        /**
         * One statement that picks and marks: SQLite runs one writer at a time (and the store's transactions take the
         * write lock at BEGIN), so no other claimer can pick between the SELECT and the UPDATE.
         */
        @Override
        public String claim(ClaimStatement c) {
            return "UPDATE " + c.table() + " SET " + c.set() + " WHERE " + c.key() + " IN (SELECT " + c.key()
                    + " FROM " + c.table() + " WHERE " + c.claimable() + " ORDER BY " + c.order()
                    + " LIMIT :limit) RETURNING " + c.returning();
        }
    },
    POSTGRESQL("db/migration/postgresql") {
        @Override
        void tune(HikariConfig pool) {
            pool.setMaximumPoolSize(10);
        }

        /**
         * {@code FOR UPDATE SKIP LOCKED} (db-scheduler's PostgreSqlJdbcCustomization): concurrent claimers, on this
         * pool or another node's, each lock different rows and never wait on one another; a row another claimer
         * committed meanwhile is re-checked against {@code claimable} under the lock (READ COMMITTED) and dropped.
         */
        @Override
        public String claim(ClaimStatement c) {
            return "UPDATE " + c.table() + " SET " + c.set() + " WHERE " + c.key() + " IN (SELECT " + c.key()
                    + " FROM " + c.table() + " WHERE " + c.claimable() + " ORDER BY " + c.order()
                    + " LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING " + c.returning();
        }
    };

    /**
     * The parts of a claim on a queue-like table, SQL fragments written by the store (never user input):
     * {@code key} is the table's single-column primary key, {@code claimable} the condition a row must meet,
     * {@code order} which rows go first, {@code set} how a claimed row is marked, {@code returning} the columns read
     * back. The statement binds {@code :limit} (at most that many rows) and whatever the fragments name.
     */
    public record ClaimStatement(String table, String key, String claimable, String order, String set,
                                 String returning) { }

    private final String migrations;

    Dialect(String migrations) {
        this.migrations = migrations;
    }

    public String migrations() {
        return migrations;
    }

    /** Pool settings for this database. */
    abstract void tune(HikariConfig pool);

    /**
     * One statement that claims up to {@code :limit} rows of a queue-like table: picks claimable rows, marks them and
     * returns them, so two claimers — threads, pools, nodes — never take the same row. Run it in a transaction.
     */
    public abstract String claim(ClaimStatement statement);

    public static Dialect of(String jdbcUrl) {
        if (jdbcUrl.startsWith("jdbc:sqlite:")) return SQLITE;
        if (jdbcUrl.startsWith("jdbc:postgresql:")) return POSTGRESQL;
        throw new IllegalArgumentException("unsupported database URL (use jdbc:sqlite:<file> or jdbc:postgresql://…): "
                + jdbcUrl.replaceAll("password=[^&]*", "password=***"));
    }
}
