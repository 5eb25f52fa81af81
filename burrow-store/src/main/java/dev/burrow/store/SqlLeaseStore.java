package dev.burrow.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

import org.jdbi.v3.core.statement.StatementContext;

import dev.burrow.core.store.LeaseStore;
import dev.burrow.core.store.Owner;

/**
 * {@link LeaseStore} over JDBI: table {@code leases} (V8). Acquire is one upsert whose update only applies to a free
 * row or the owner's own, so the database decides between concurrent acquirers (PostgreSQL locks the conflicting row
 * and re-checks the condition; SQLite has one writer).
 */
public final class SqlLeaseStore implements LeaseStore {
    private static final String COLUMNS = "name, owner_node, owner_token, acquired_at, expires_at, generation";

    private final Database db;

    public SqlLeaseStore(Database db) {
        this.db = db;
    }

    @Override
    public Optional<Lease> acquire(String name, Owner owner, Duration ttl, Instant now) {
        long at = now.toEpochMilli();
        return db.inTransaction(h -> h.createQuery("""
                INSERT INTO leases (name, owner_node, owner_token, acquired_at, expires_at, generation)
                VALUES (:name, :node, :token, :now, :expires, 1)
                ON CONFLICT (name) DO UPDATE SET
                    generation  = CASE WHEN leases.owner_node = excluded.owner_node
                                        AND leases.owner_token = excluded.owner_token
                                        AND leases.expires_at > excluded.acquired_at
                                       THEN leases.generation ELSE leases.generation + 1 END,
                    acquired_at = CASE WHEN leases.owner_node = excluded.owner_node
                                        AND leases.owner_token = excluded.owner_token
                                        AND leases.expires_at > excluded.acquired_at
                                       THEN leases.acquired_at ELSE excluded.acquired_at END,
                    owner_node  = excluded.owner_node,
                    owner_token = excluded.owner_token,
                    expires_at  = excluded.expires_at
                WHERE leases.expires_at <= excluded.acquired_at
                   OR (leases.owner_node = excluded.owner_node AND leases.owner_token = excluded.owner_token)
                RETURNING\s""" + COLUMNS)
                .bind("name", name).bind("node", owner.node()).bind("token", owner.token()).bind("now", at)
                .bind("expires", now.plus(ttl).toEpochMilli())
                .map(SqlLeaseStore::mapLease).findOne());
    }

    @Override
    public Optional<Lease> renew(String name, Owner owner, Duration ttl, Instant now) {
        return db.inTransaction(h -> h.createQuery("""
                UPDATE leases SET expires_at = :expires
                WHERE name = :name AND owner_node = :node AND owner_token = :token AND expires_at > :now
                RETURNING\s""" + COLUMNS)
                .bind("name", name).bind("node", owner.node()).bind("token", owner.token())
                .bind("now", now.toEpochMilli()).bind("expires", now.plus(ttl).toEpochMilli())
                .map(SqlLeaseStore::mapLease).findOne());
    }

    @Override
    public boolean release(String name, Owner owner) {
        // expires_at 0: free, while the row keeps the generation the next holder counts on from
        return db.inTransaction(h -> h.createUpdate("""
                UPDATE leases SET expires_at = 0
                WHERE name = :name AND owner_node = :node AND owner_token = :token AND expires_at > 0
                """).bind("name", name).bind("node", owner.node()).bind("token", owner.token()).execute()) > 0;
    }

    @Override
    public Optional<Lease> find(String name) {
        return db.read(h -> h.createQuery("SELECT " + COLUMNS + " FROM leases WHERE name = :name").bind("name", name)
                .map(SqlLeaseStore::mapLease).findOne());
    }

    private static Lease mapLease(ResultSet rs, StatementContext ctx) throws SQLException {
        return new Lease(rs.getString("name"), new Owner(rs.getString("owner_node"), rs.getString("owner_token")),
                Instant.ofEpochMilli(rs.getLong("acquired_at")), Instant.ofEpochMilli(rs.getLong("expires_at")),
                rs.getLong("generation"));
    }
}
