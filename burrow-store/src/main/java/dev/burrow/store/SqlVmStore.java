package dev.burrow.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.statement.StatementContext;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.store.ApiKeyStore;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/** {@link VmStore}, {@link SnapshotStore} and {@link ApiKeyStore} over JDBI, portable across the {@link Dialect}s. */
public final class SqlVmStore implements VmStore, SnapshotStore, ApiKeyStore {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final Database db;

    public SqlVmStore(Database db) {
        this.db = db;
    }

    @Override
    public boolean insert(Vm vm, VmEvent event, IdempotencyKey key) {
        return db.inTransaction(h -> {
            if (key != null) {
                int claimed = h.createUpdate("""
                        INSERT INTO idempotency_keys (idem_key, request_hash, vm_id, created_at)
                        VALUES (:key, :hash, :vm, :at) ON CONFLICT (idem_key) DO NOTHING
                        """).bind("key", key.key()).bind("hash", key.requestHash()).bind("vm", vm.id())
                        .bind("at", vm.createdAt().toEpochMilli()).execute();
                if (claimed == 0) return false;
            }
            h.createUpdate("""
                    INSERT INTO vms (id, status, status_reason, spec, created_at, updated_at, last_activity_at,
                                     node, driver, driver_handle, version)
                    VALUES (:id, :status, :reason, :spec, :created, :updated, :activity, :node, :driver, :handle, 1)
                    """)
                    .bind("id", vm.id()).bind("status", vm.status().dbName()).bind("reason", vm.statusReason())
                    .bind("spec", toJson(vm.spec())).bind("created", vm.createdAt().toEpochMilli())
                    .bind("updated", vm.updatedAt().toEpochMilli())
                    .bind("activity", vm.lastActivityAt().toEpochMilli()).bind("node", vm.node())
                    .bind("driver", vm.driver()).bind("handle", vm.driverHandle())
                    .execute();
            insertEvent(h, event);
            return true;
        });
    }

    @Override
    public Optional<IdempotencyKey> findIdempotencyKey(String key) {
        return db.read(h -> h.createQuery("SELECT idem_key, request_hash, vm_id FROM idempotency_keys WHERE idem_key = :key")
                .bind("key", key)
                .map((rs, ctx) -> new IdempotencyKey(rs.getString(1), rs.getString(2), rs.getString(3)))
                .findOne());
    }

    @Override
    public Optional<Vm> update(Vm vm, VmEvent event) {
        return db.inTransaction(h -> {
            int n = h.createUpdate("""
                    UPDATE vms SET status = :status, status_reason = :reason, spec = :spec, updated_at = :updated,
                                   driver_handle = :handle, version = version + 1
                    WHERE id = :id AND version = :version
                    """)
                    .bind("id", vm.id()).bind("status", vm.status().dbName()).bind("reason", vm.statusReason())
                    .bind("spec", toJson(vm.spec())).bind("updated", vm.updatedAt().toEpochMilli())
                    .bind("handle", vm.driverHandle()).bind("version", vm.version())
                    .execute();
            if (n == 0) {
                h.rollback();
                return Optional.<Vm>empty();
            }
            insertEvent(h, event);
            return findIn(h, vm.id());
        });
    }

    @Override
    public Optional<Vm> find(String id) {
        return db.read(h -> findIn(h, id));
    }

    @Override
    public List<Vm> list(VmQuery query) {
        StringBuilder where = new StringBuilder("WHERE 1 = 1");
        if (!query.includeDeleted()) where.append(" AND status <> 'deleted'");
        if (query.node() != null) where.append(" AND node = :node");
        if (!query.statuses().isEmpty()) where.append(" AND status IN (<statuses>)");
        if (query.createdBefore() != null) where.append(" AND created_at < :before");
        if (query.cursor() != null) {
            where.append(" AND (created_at < :cursorAt OR (created_at = :cursorAt AND id > :cursorId))");
        }
        // Labels live inside the spec JSON; filtering them here keeps the SQL portable across dialects, and then
        // offset and limit apply after that filter.
        boolean inSql = query.labels().isEmpty();
        String sql = "SELECT * FROM vms " + where + " ORDER BY created_at DESC, id"
                + (inSql ? " LIMIT :limit OFFSET :offset" : "");
        List<Vm> rows = db.read(h -> {
            var q = h.createQuery(sql);
            if (query.node() != null) q.bind("node", query.node());
            if (!query.statuses().isEmpty()) {
                q.bindList("statuses", query.statuses().stream().map(VmStatus::dbName).sorted().toList());
            }
            if (query.createdBefore() != null) q.bind("before", query.createdBefore().toEpochMilli());
            if (query.cursor() != null) {
                q.bind("cursorAt", query.cursor().createdAt().toEpochMilli()).bind("cursorId", query.cursor().id());
            }
            if (inSql) q.bind("limit", query.limited() ? query.limit() : Integer.MAX_VALUE).bind("offset", query.offset());
            return q.map(this::mapVm).list();
        });
        if (inSql) return rows;
        return rows.stream()
                .filter(query::matches)
                .skip(query.offset())
                .limit(query.limited() ? query.limit() : Long.MAX_VALUE)
                .toList();
    }

    @Override
    public List<Vm> pageById(String node, String afterId, int limit) {
        return db.read(h -> h.createQuery("SELECT * FROM vms WHERE status <> 'deleted' "
                        + (node == null ? "" : "AND node = :node ")
                        + (afterId == null ? "" : "AND id > :after ") + "ORDER BY id LIMIT :limit")
                .bind("node", node).bind("after", afterId).bind("limit", limit)
                .map(this::mapVm).list());
    }

    @Override
    public Map<VmStatus, Long> countByStatus(boolean includeDeleted) {
        Map<VmStatus, Long> counts = new EnumMap<>(VmStatus.class);
        db.read(h -> h.createQuery("SELECT status, COUNT(*) FROM vms "
                        + (includeDeleted ? "" : "WHERE status <> 'deleted' ") + "GROUP BY status")
                .map((rs, ctx) -> Map.entry(VmStatus.fromDb(rs.getString(1)), rs.getLong(2))).list())
                .forEach(e -> counts.put(e.getKey(), e.getValue()));
        return counts;
    }

    @Override
    public void touch(String id, Instant at) {
        db.inTransaction(h -> h.createUpdate("UPDATE vms SET last_activity_at = :at WHERE id = :id AND last_activity_at < :at")
                .bind("id", id).bind("at", at.toEpochMilli()).execute());
    }

    @Override
    public void touchNetwork(String id, Instant at) {
        db.inTransaction(h -> {
            long ms = at.toEpochMilli();
            h.createUpdate("""
                    UPDATE vms SET last_network_activity_at = :at
                    WHERE id = :id AND (last_network_activity_at IS NULL OR last_network_activity_at < :at)
                    """).bind("id", id).bind("at", ms).execute();
            return h.createUpdate("UPDATE vms SET last_activity_at = :at WHERE id = :id AND last_activity_at < :at")
                    .bind("id", id).bind("at", ms).execute();
        });
    }

    @Override
    public List<VmEvent> events(String vmId, int limit) {
        return db.read(h -> h.createQuery("SELECT * FROM vm_events WHERE vm_id = :id ORDER BY id DESC LIMIT :limit")
                .bind("id", vmId).bind("limit", limit)
                .map(SqlVmStore::mapEvent).list()).reversed();
    }

    // ---- snapshots ----

    @Override
    public void insertSnapshot(Snapshot snap) {
        db.inTransaction(h -> h.createUpdate("""
                INSERT INTO snapshots (id, name, source_vm_id, image, source_spec, created_at, persistence_type,
                                       persistence_priority, last_used_at, template_hash, failure_reason, default_user)
                VALUES (:id, :name, :source, :image, :spec, :at, :ptype, :prio, :used, :hash, :failure, :user)
                """).bind("id", snap.id()).bind("name", snap.name()).bind("source", snap.sourceVmId())
                .bind("image", snap.image()).bind("spec", toJson(snap.sourceSpec()))
                .bind("at", snap.createdAt().toEpochMilli()).bind("ptype", snap.persistence().wireType())
                .bind("prio", snap.persistence().priority()).bind("used", snap.lastUsedAt().toEpochMilli())
                .bind("hash", snap.templateHash()).bind("failure", snap.failureReason()).bind("user", snap.user())
                .execute());
    }

    @Override
    public Optional<Snapshot> findSnapshot(String id) {
        return db.read(h -> h.createQuery("SELECT * FROM snapshots WHERE id = :id").bind("id", id)
                .map(SqlVmStore::mapSnapshot).findOne());
    }

    @Override
    public List<Snapshot> listSnapshots() {
        return db.read(h -> h.createQuery("SELECT * FROM snapshots ORDER BY created_at DESC, id")
                .map(SqlVmStore::mapSnapshot).list());
    }

    @Override
    public Optional<Snapshot> findSnapshotByTemplate(String templateHash) {
        return db.read(h -> h.createQuery("""
                SELECT * FROM snapshots WHERE template_hash = :hash AND failure_reason IS NULL
                ORDER BY created_at DESC, id LIMIT 1
                """).bind("hash", templateHash).map(SqlVmStore::mapSnapshot).findOne());
    }

    @Override
    public boolean deleteSnapshot(String id) {
        return db.inTransaction(h -> h.createUpdate("DELETE FROM snapshots WHERE id = :id").bind("id", id).execute()) > 0;
    }

    @Override
    public boolean updateSnapshot(Snapshot snap) {
        return db.inTransaction(h -> h.createUpdate("""
                UPDATE snapshots SET name = :name, persistence_type = :ptype, persistence_priority = :prio WHERE id = :id
                """).bind("id", snap.id()).bind("name", snap.name()).bind("ptype", snap.persistence().wireType())
                .bind("prio", snap.persistence().priority()).execute()) > 0;
    }

    @Override
    public boolean touchSnapshot(String id, Instant at) {
        return db.inTransaction(h -> h.createUpdate("UPDATE snapshots SET last_used_at = :at WHERE id = :id").bind("id", id)
                .bind("at", at.toEpochMilli()).execute()) > 0;
    }

    private static Snapshot mapSnapshot(ResultSet rs, StatementContext ctx) throws SQLException {
        Instant created = Instant.ofEpochMilli(rs.getLong("created_at"));
        long used = rs.getLong("last_used_at");
        Instant lastUsed = rs.wasNull() ? created : Instant.ofEpochMilli(used);
        var type = dev.burrow.core.vm.Persistence.Type.valueOf(rs.getString("persistence_type").toUpperCase(java.util.Locale.ROOT));
        var persistence = new dev.burrow.core.vm.Persistence(type, rs.getInt("persistence_priority"), null);
        return new Snapshot(rs.getString("id"), rs.getString("name"), rs.getString("source_vm_id"), rs.getString("image"),
                fromJson(rs.getString("source_spec")), created, persistence, lastUsed, rs.getString("template_hash"),
                rs.getString("failure_reason"), rs.getString("default_user"));
    }

    @Override
    public void upsert(ApiKey key) {
        db.inTransaction(h -> {
            h.createUpdate("DELETE FROM api_keys WHERE id = :id OR sha256 = :sha").bind("id", key.id())
                    .bind("sha", key.sha256()).execute();
            h.createUpdate("INSERT INTO api_keys (id, name, sha256, admin, created_at) VALUES (:id, :name, :sha, :admin, :at)")
                    .bind("id", key.id()).bind("name", key.name()).bind("sha", key.sha256()).bind("admin", key.admin())
                    .bind("at", System.currentTimeMillis()).execute();
            return null;
        });
    }

    @Override
    public Optional<ApiKey> findByHash(String sha256) {
        return db.read(h -> h.createQuery("SELECT id, name, sha256, admin FROM api_keys WHERE sha256 = :sha")
                .bind("sha", sha256)
                .map((rs, ctx) -> new ApiKey(rs.getString("id"), rs.getString("name"), rs.getString("sha256"),
                        rs.getBoolean("admin")))
                .findOne());
    }

    /** Names allowed by the vms.status CHECK constraint, read back from the live schema (drift test). */
    public String schemaSql() {
        return db.inTransaction(h -> db.dialect() == Dialect.SQLITE
                ? h.createQuery("SELECT sql FROM sqlite_master WHERE name = 'vms'").mapTo(String.class).one()
                : h.createQuery("""
                        SELECT string_agg(pg_get_constraintdef(c.oid), ' ') FROM pg_constraint c
                        JOIN pg_class t ON t.oid = c.conrelid WHERE t.relname = 'vms' AND c.contype = 'c'
                        """).mapTo(String.class).one());
    }

    private void insertEvent(Handle h, VmEvent e) {
        h.createUpdate("""
                INSERT INTO vm_events (vm_id, at, from_status, to_status, op, cause, detail, duration_ms)
                VALUES (:vm, :at, :from, :to, :op, :cause, :detail, :duration)
                """)
                .bind("vm", e.vmId()).bind("at", e.at().toEpochMilli())
                .bind("from", e.from() == null ? null : e.from().dbName()).bind("to", e.to().dbName())
                .bind("op", e.op()).bind("cause", e.cause()).bind("detail", e.detail()).bind("duration", e.durationMs())
                .execute();
    }

    private Optional<Vm> findIn(Handle h, String id) {
        return h.createQuery("SELECT * FROM vms WHERE id = :id").bind("id", id).map(this::mapVm).findOne();
    }

    private Vm mapVm(ResultSet rs, StatementContext ctx) throws SQLException {
        return new Vm(rs.getString("id"), fromJson(rs.getString("spec")), VmStatus.fromDb(rs.getString("status")),
                rs.getString("status_reason"), Instant.ofEpochMilli(rs.getLong("created_at")),
                Instant.ofEpochMilli(rs.getLong("updated_at")), Instant.ofEpochMilli(rs.getLong("last_activity_at")),
                rs.getString("node"), rs.getString("driver"), rs.getString("driver_handle"), rs.getLong("version"),
                instantOrNull(rs, "last_network_activity_at"));
    }

    private static Instant instantOrNull(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : Instant.ofEpochMilli(v);
    }

    private static VmEvent mapEvent(ResultSet rs, StatementContext ctx) throws SQLException {
        String from = rs.getString("from_status");
        long d = rs.getLong("duration_ms");
        Long duration = rs.wasNull() ? null : d;
        return new VmEvent(rs.getLong("id"), rs.getString("vm_id"), Instant.ofEpochMilli(rs.getLong("at")),
                from == null ? null : VmStatus.fromDb(from), VmStatus.fromDb(rs.getString("to_status")),
                rs.getString("op"), rs.getString("cause"), rs.getString("detail"), duration);
    }

    private static String toJson(VmSpec spec) {
        try {
            return JSON.writeValueAsString(spec);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize VM spec", e);
        }
    }

    private static VmSpec fromJson(String json) {
        try {
            return JSON.readValue(json, VmSpec.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("stored VM spec is unreadable: " + e.getOriginalMessage(), e);
        }
    }

}
