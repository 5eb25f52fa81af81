package dev.burrow.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.statement.StatementContext;

import dev.burrow.core.domain.DomainMapping;
import dev.burrow.core.store.DomainStore;

/** {@link DomainStore} over JDBI, portable across the {@link Dialect}s. Times are epoch milliseconds. */
public final class SqlDomainStore implements DomainStore {
    private final Database db;

    public SqlDomainStore(Database db) {
        this.db = db;
    }

    @Override
    public boolean insertMapping(DomainMapping m) {
        return db.inTransaction(h -> h.createUpdate("""
                INSERT INTO domain_mappings (id, domain, vm_id, vm_port, created_at)
                VALUES (:id, :domain, :vm, :port, :at) ON CONFLICT (domain) DO NOTHING
                """).bind("id", m.id()).bind("domain", m.domain()).bind("vm", m.vmId()).bind("port", m.vmPort())
                .bind("at", m.createdAt().toEpochMilli()).execute()) > 0;
    }

    @Override
    public boolean updateMappingPort(String domain, String vmId, int vmPort) {
        return db.inTransaction(h -> h.createUpdate("UPDATE domain_mappings SET vm_port = :port WHERE domain = :domain AND vm_id = :vm")
                .bind("port", vmPort).bind("domain", domain).bind("vm", vmId).execute()) > 0;
    }

    @Override
    public Optional<DomainMapping> findMapping(String domain) {
        return db.read(h -> h.createQuery("SELECT * FROM domain_mappings WHERE domain = :domain").bind("domain", domain)
                .map(SqlDomainStore::map).findOne());
    }

    @Override
    public List<DomainMapping> listMappings(String domain, int limit, int offset) {
        return db.read(h -> {
            var q = h.createQuery("SELECT * FROM domain_mappings " + (domain == null ? "" : "WHERE domain = :domain ")
                    + "ORDER BY created_at, id LIMIT :limit OFFSET :offset");
            if (domain != null) q.bind("domain", domain);
            return q.bind("limit", limit).bind("offset", offset).map(SqlDomainStore::map).list();
        });
    }

    @Override
    public List<DomainMapping> mappingsForVm(String vmId) {
        return db.read(h -> h.createQuery("SELECT * FROM domain_mappings WHERE vm_id = :vm ORDER BY created_at, id")
                .bind("vm", vmId).map(SqlDomainStore::map).list());
    }

    @Override
    public boolean deleteMapping(String domain) {
        return db.inTransaction(h -> h.createUpdate("DELETE FROM domain_mappings WHERE domain = :domain").bind("domain", domain)
                .execute()) > 0;
    }

    @Override
    public int deleteMappingsForVm(String vmId) {
        return db.inTransaction(h -> h.createUpdate("DELETE FROM domain_mappings WHERE vm_id = :vm").bind("vm", vmId).execute());
    }

    private static DomainMapping map(ResultSet rs, StatementContext ctx) throws SQLException {
        return new DomainMapping(rs.getString("id"), rs.getString("domain"), rs.getString("vm_id"), rs.getInt("vm_port"),
                Instant.ofEpochMilli(rs.getLong("created_at")));
    }
}
