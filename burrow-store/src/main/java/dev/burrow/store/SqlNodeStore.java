package dev.burrow.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.jdbi.v3.core.statement.StatementContext;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.store.NodeStore;

/** {@link NodeStore} over JDBI: table {@code nodes} (V8), labels and capacity as JSON objects. */
public final class SqlNodeStore implements NodeStore {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Database db;

    public SqlNodeStore(Database db) {
        this.db = db;
    }

    @Override
    public void register(Node node) {
        db.inTransaction(h -> h.createUpdate("""
                INSERT INTO nodes (id, address, started_at, heartbeat_at, labels, capacity)
                VALUES (:id, :address, :started, :beat, :labels, :capacity)
                ON CONFLICT (id) DO UPDATE SET address = excluded.address, started_at = excluded.started_at,
                    heartbeat_at = excluded.heartbeat_at, labels = excluded.labels, capacity = excluded.capacity
                """).bind("id", node.id()).bind("address", node.address())
                .bind("started", node.startedAt().toEpochMilli()).bind("beat", node.heartbeatAt().toEpochMilli())
                .bind("labels", toJson(node.labels())).bind("capacity", toJson(node.capacity())).execute());
    }

    @Override
    public boolean heartbeat(String id, Instant at) {
        // a heartbeat that would go backwards (a clock step) still proves the node is registered
        return db.inTransaction(h -> h.createUpdate("""
                UPDATE nodes SET heartbeat_at = CASE WHEN heartbeat_at < :at THEN :at ELSE heartbeat_at END WHERE id = :id
                """).bind("id", id).bind("at", at.toEpochMilli()).execute()) > 0;
    }

    @Override
    public Optional<Node> find(String id) {
        return db.read(h -> h.createQuery("SELECT * FROM nodes WHERE id = :id").bind("id", id)
                .map(SqlNodeStore::mapNode).findOne());
    }

    @Override
    public List<Node> list() {
        return db.read(h -> h.createQuery("SELECT * FROM nodes ORDER BY id").map(SqlNodeStore::mapNode).list());
    }

    @Override
    public List<Node> stale(Instant heartbeatBefore) {
        return db.read(h -> h.createQuery("SELECT * FROM nodes WHERE heartbeat_at < :before ORDER BY id")
                .bind("before", heartbeatBefore.toEpochMilli()).map(SqlNodeStore::mapNode).list());
    }

    private static Node mapNode(ResultSet rs, StatementContext ctx) throws SQLException {
        return new Node(rs.getString("id"), rs.getString("address"), Instant.ofEpochMilli(rs.getLong("started_at")),
                Instant.ofEpochMilli(rs.getLong("heartbeat_at")),
                fromJson(rs.getString("labels"), new TypeReference<Map<String, String>>() { }),
                fromJson(rs.getString("capacity"), new TypeReference<Map<String, Long>>() { }));
    }

    private static String toJson(Map<String, ?> map) {
        try {
            return JSON.writeValueAsString(new java.util.TreeMap<>(map));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize node map", e);
        }
    }

    private static <T> T fromJson(String json, TypeReference<T> type) {
        try {
            return JSON.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("stored node row is unreadable: " + e.getOriginalMessage(), e);
        }
    }
}
