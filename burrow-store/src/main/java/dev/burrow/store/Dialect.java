package dev.burrow.store;

/**
 * The seam between databases (db-scheduler's JdbcCustomization, in small): which migrations apply and
 * how a connection is tuned. Everything else in the store is portable SQL.
 */
public enum Dialect {
    SQLITE("db/migration/sqlite"),
    POSTGRESQL("db/migration/postgresql");

    private final String migrations;

    Dialect(String migrations) {
        this.migrations = migrations;
    }

    public String migrations() {
        return migrations;
    }

    public static Dialect of(String jdbcUrl) {
        if (jdbcUrl.startsWith("jdbc:sqlite:")) return SQLITE;
        if (jdbcUrl.startsWith("jdbc:postgresql:")) return POSTGRESQL;
        throw new IllegalArgumentException("unsupported database URL (use jdbc:sqlite:<file> or jdbc:postgresql://…): "
                + jdbcUrl.replaceAll("password=[^&]*", "password=***"));
    }
}
