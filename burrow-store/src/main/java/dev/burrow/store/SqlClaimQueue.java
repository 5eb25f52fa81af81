package dev.burrow.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import org.jdbi.v3.core.statement.StatementContext;

import dev.burrow.core.store.ClaimQueue;
import dev.burrow.core.store.Owner;

/**
 * {@link ClaimQueue} over JDBI: table {@code claims} (V8), claimed with the {@link Dialect#claim} statement. A claim
 * moves {@code available_at} to the end of its visibility timeout, so "claimable" is only {@code available_at <= now}
 * and an abandoned claim needs no sweeper; extend, complete and release name the owner and the attempt, so a claimer
 * whose claim expired and was taken again changes nothing.
 */
public final class SqlClaimQueue implements ClaimQueue {
    private static final String COLUMNS = "id, queue, payload, attempts, owner_node, owner_token, available_at";

    private final Database db;
    private final String claimSql;

    public SqlClaimQueue(Database db) {
        this.db = db;
        this.claimSql = db.dialect().claim(new Dialect.ClaimStatement("claims", "id",
                "queue = :queue AND available_at <= :now", "available_at, created_at, id",
                "available_at = :visible, attempts = attempts + 1, owner_node = :node, owner_token = :token", COLUMNS));
    }

    @Override
    public boolean offer(String queue, String id, String payload, Instant availableAt) {
        return db.inTransaction(h -> h.createUpdate("""
                INSERT INTO claims (id, queue, payload, created_at, available_at, attempts)
                VALUES (:id, :queue, :payload, :created, :available, 0) ON CONFLICT (id) DO NOTHING
                """).bind("id", id).bind("queue", queue).bind("payload", payload)
                .bind("created", System.currentTimeMillis()).bind("available", availableAt.toEpochMilli())
                .execute()) > 0;
    }

    @Override
    public List<Claim> claim(String queue, Owner owner, int max, Duration visibility, Instant now) {
        if (max <= 0) return List.of();
        return db.inTransaction(h -> h.createQuery(claimSql)
                .bind("queue", queue).bind("now", now.toEpochMilli()).bind("limit", max)
                .bind("visible", now.plus(visibility).toEpochMilli())
                .bind("node", owner.node()).bind("token", owner.token())
                .map(SqlClaimQueue::mapClaim).list());
    }

    @Override
    public Optional<Claim> extend(Claim claim, Duration visibility, Instant now) {
        return db.inTransaction(h -> h.createQuery("""
                UPDATE claims SET available_at = :visible
                WHERE id = :id AND owner_node = :node AND owner_token = :token AND attempts = :attempt
                  AND available_at > :now
                RETURNING\s""" + COLUMNS)
                .bind("id", claim.id()).bind("node", claim.owner().node()).bind("token", claim.owner().token())
                .bind("attempt", claim.attempt()).bind("now", now.toEpochMilli())
                .bind("visible", now.plus(visibility).toEpochMilli())
                .map(SqlClaimQueue::mapClaim).findOne());
    }

    @Override
    public boolean complete(Claim claim) {
        return db.inTransaction(h -> h.createUpdate("""
                DELETE FROM claims WHERE id = :id AND owner_node = :node AND owner_token = :token AND attempts = :attempt
                """).bind("id", claim.id()).bind("node", claim.owner().node()).bind("token", claim.owner().token())
                .bind("attempt", claim.attempt()).execute()) > 0;
    }

    @Override
    public boolean release(Claim claim, Instant availableAt) {
        return db.inTransaction(h -> h.createUpdate("""
                UPDATE claims SET available_at = :available, owner_node = NULL, owner_token = NULL
                WHERE id = :id AND owner_node = :node AND owner_token = :token AND attempts = :attempt
                """).bind("id", claim.id()).bind("node", claim.owner().node()).bind("token", claim.owner().token())
                .bind("attempt", claim.attempt()).bind("available", availableAt.toEpochMilli()).execute()) > 0;
    }

    @Override
    public long size(String queue) {
        return db.read(h -> h.createQuery("SELECT COUNT(*) FROM claims WHERE queue = :queue").bind("queue", queue)
                .mapTo(Long.class).one());
    }

    private static Claim mapClaim(ResultSet rs, StatementContext ctx) throws SQLException {
        return new Claim(rs.getString("queue"), rs.getString("id"), rs.getString("payload"), rs.getInt("attempts"),
                new Owner(rs.getString("owner_node"), rs.getString("owner_token")),
                Instant.ofEpochMilli(rs.getLong("available_at")));
    }
}
