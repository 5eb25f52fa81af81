package dev.burrow.store;

import javax.sql.DataSource;

import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Jdbi;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * A migrated, pooled database, its pool tuned by the {@link Dialect} (SQLite: WAL mode with IMMEDIATE transactions, so
 * concurrent writers queue on the busy timeout instead of failing with SQLITE_BUSY on a lock upgrade). Several
 * servers on one PostgreSQL each open their own.
 */
public final class Database implements AutoCloseable {
    private final Dialect dialect;
    private final HikariDataSource dataSource;
    private final Jdbi jdbi;

    private Database(Dialect dialect, HikariDataSource dataSource) {
        this.dialect = dialect;
        this.dataSource = dataSource;
        this.jdbi = Jdbi.create(dataSource);
    }

    public static Database open(String jdbcUrl, String user, String password) {
        Dialect dialect = Dialect.of(jdbcUrl);
        HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(jdbcUrl);
        hc.setPoolName("burrow-db");
        if (user != null) hc.setUsername(user);
        if (password != null) hc.setPassword(password);
        dialect.tune(hc);
        // Under a burst (hundreds of concurrent creates) requests queue for a connection rather than fail.
        hc.setConnectionTimeout(60_000);
        HikariDataSource ds = new HikariDataSource(hc);
        try {
            migrate(ds, dialect);
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
        return new Database(dialect, ds);
    }

    private static void migrate(DataSource ds, Dialect dialect) {
        Flyway.configure()
                .dataSource(ds)
                .locations("classpath:" + dialect.migrations())
                // migration numbers are handed out ahead of time to parallel work, so one may land after a higher
                // one was applied; each is independent of the others, so a late one is applied rather than refused
                .outOfOrder(true)
                .load()
                .migrate();
    }

    public Dialect dialect() {
        return dialect;
    }

    public Jdbi jdbi() {
        return jdbi;
    }

    public DataSource dataSource() {
        return dataSource;
    }

    /**
     * Work outside a transaction, for reads: with SQLite's IMMEDIATE mode every BEGIN takes the write lock, and WAL
     * lets plain reads proceed while one writer writes. A database failure becomes {@link dev.burrow.core.store.StoreUnavailableException}.
     */
    public <T> T read(org.jdbi.v3.core.HandleCallback<T, RuntimeException> work) {
        try {
            return jdbi.withHandle(work);
        } catch (org.jdbi.v3.core.JdbiException e) {
            throw new dev.burrow.core.store.StoreUnavailableException("database operation failed: " + e.getMessage(), e);
        }
    }

    /** Work in one transaction; a database failure becomes {@link dev.burrow.core.store.StoreUnavailableException}. */
    public <T> T inTransaction(org.jdbi.v3.core.HandleCallback<T, RuntimeException> work) {
        try {
            return jdbi.inTransaction(work);
        } catch (org.jdbi.v3.core.JdbiException e) {
            throw new dev.burrow.core.store.StoreUnavailableException("database operation failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        dataSource.close();
    }
}
