package dev.burrow.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.statement.StatementContext;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.access.AccessToken;
import dev.burrow.core.access.Identity;
import dev.burrow.core.access.SshKey;
import dev.burrow.core.access.VmPermission;
import dev.burrow.core.store.IdentityStore;

/** {@link IdentityStore} over JDBI, portable across the {@link Dialect}s. Times are epoch milliseconds. */
public final class SqlIdentityStore implements IdentityStore {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<List<String>> USERS = new TypeReference<>() { };

    private final Database db;

    public SqlIdentityStore(Database db) {
        this.db = db;
    }

    // ---- identities ----

    @Override
    public void insertIdentity(Identity identity) {
        db.inTransaction(h -> h.createUpdate("INSERT INTO identities (id, managed, created_at) VALUES (:id, :managed, :at)")
                .bind("id", identity.id()).bind("managed", identity.managed())
                .bind("at", identity.createdAt().toEpochMilli()).execute());
    }

    @Override
    public Optional<Identity> findIdentity(String id) {
        return db.read(h -> findIdentityIn(h, id));
    }

    @Override
    public List<Identity> listIdentities(boolean includeManaged, int limit, int offset) {
        return db.read(h -> {
            var q = h.createQuery("SELECT * FROM identities " + (includeManaged ? "" : "WHERE managed = :f ")
                    + "ORDER BY created_at, id LIMIT :limit OFFSET :offset");
            if (!includeManaged) q.bind("f", false);
            return q.bind("limit", limit).bind("offset", offset).map(SqlIdentityStore::mapIdentity).list();
        });
    }

    @Override
    public int countIdentities(boolean includeManaged) {
        return db.read(h -> {
            var q = h.createQuery("SELECT COUNT(*) FROM identities" + (includeManaged ? "" : " WHERE managed = :f"));
            if (!includeManaged) q.bind("f", false);
            return q.mapTo(Integer.class).one();
        });
    }

    @Override
    public boolean deleteIdentity(String id) {
        return db.inTransaction(h -> {
            // Children first, explicitly: correct even on a connection where SQLite's foreign keys are off.
            for (String table : List.of("vm_permissions", "access_tokens", "ssh_keys")) {
                h.createUpdate("DELETE FROM " + table + " WHERE identity_id = :id").bind("id", id).execute();
            }
            return h.createUpdate("DELETE FROM identities WHERE id = :id").bind("id", id).execute() > 0;
        });
    }

    // ---- VM permissions ----

    @Override
    public Optional<VmPermission> upsertPermission(VmPermission p) {
        return db.inTransaction(h -> {
            if (findIdentityIn(h, p.identityId()).isEmpty()) return Optional.<VmPermission>empty();
            h.createUpdate("""
                    INSERT INTO vm_permissions (id, identity_id, vm_id, allowed_users, granted_at, granted_by)
                    VALUES (:id, :identity, :vm, :users, :at, :by)
                    ON CONFLICT (identity_id, vm_id) DO UPDATE SET allowed_users = excluded.allowed_users,
                        granted_at = excluded.granted_at, granted_by = excluded.granted_by
                    """).bind("id", p.id()).bind("identity", p.identityId()).bind("vm", p.vmId())
                    .bind("users", usersJson(p.allowedUsers())).bind("at", p.grantedAt().toEpochMilli())
                    .bind("by", p.grantedBy()).execute();
            return findPermissionIn(h, p.identityId(), p.vmId());
        });
    }

    @Override
    public Optional<VmPermission> updatePermission(String identityId, String vmId, List<String> allowedUsers) {
        return db.inTransaction(h -> {
            int n = h.createUpdate("UPDATE vm_permissions SET allowed_users = :users WHERE identity_id = :identity AND vm_id = :vm")
                    .bind("users", usersJson(allowedUsers)).bind("identity", identityId).bind("vm", vmId).execute();
            return n == 0 ? Optional.<VmPermission>empty() : findPermissionIn(h, identityId, vmId);
        });
    }

    @Override
    public Optional<VmPermission> findPermission(String identityId, String vmId) {
        return db.read(h -> findPermissionIn(h, identityId, vmId));
    }

    @Override
    public List<VmPermission> listPermissions(String identityId, int limit, int offset) {
        return db.read(h -> h.createQuery("""
                        SELECT * FROM vm_permissions WHERE identity_id = :identity
                        ORDER BY granted_at, id LIMIT :limit OFFSET :offset
                        """).bind("identity", identityId).bind("limit", limit).bind("offset", offset)
                .map(SqlIdentityStore::mapPermission).list());
    }

    @Override
    public int countPermissions(String identityId) {
        return db.read(h -> h.createQuery("SELECT COUNT(*) FROM vm_permissions WHERE identity_id = :identity")
                .bind("identity", identityId).mapTo(Integer.class).one());
    }

    @Override
    public boolean deletePermission(String identityId, String vmId) {
        return db.inTransaction(h -> h.createUpdate("DELETE FROM vm_permissions WHERE identity_id = :identity AND vm_id = :vm")
                .bind("identity", identityId).bind("vm", vmId).execute()) > 0;
    }

    @Override
    public int deletePermissionsForVm(String vmId) {
        return db.inTransaction(h -> h.createUpdate("DELETE FROM vm_permissions WHERE vm_id = :vm").bind("vm", vmId).execute());
    }

    // ---- tokens ----

    @Override
    public boolean insertToken(AccessToken t) {
        return db.inTransaction(h -> {
            if (findIdentityIn(h, t.identityId()).isEmpty()) return false;
            h.createUpdate("""
                    INSERT INTO access_tokens (id, identity_id, sha256, created_at, expires_at, revoked_at)
                    VALUES (:id, :identity, :sha, :created, :expires, :revoked)
                    """).bind("id", t.id()).bind("identity", t.identityId()).bind("sha", t.sha256())
                    .bind("created", t.createdAt().toEpochMilli()).bind("expires", millis(t.expiresAt()))
                    .bind("revoked", millis(t.revokedAt())).execute();
            return true;
        });
    }

    @Override
    public Optional<AccessToken> findTokenByHash(String sha256) {
        return db.read(h -> h.createQuery("SELECT * FROM access_tokens WHERE sha256 = :sha").bind("sha", sha256)
                .map(SqlIdentityStore::mapToken).findOne());
    }

    @Override
    public List<AccessToken> listTokens(String identityId) {
        return db.read(h -> h.createQuery("""
                        SELECT * FROM access_tokens WHERE identity_id = :identity AND revoked_at IS NULL
                        ORDER BY created_at, id
                        """).bind("identity", identityId).map(SqlIdentityStore::mapToken).list());
    }

    @Override
    public boolean revokeToken(String identityId, String tokenId, Instant at) {
        return db.inTransaction(h -> h.createUpdate("""
                UPDATE access_tokens SET revoked_at = :at WHERE id = :id AND identity_id = :identity AND revoked_at IS NULL
                """).bind("at", at.toEpochMilli()).bind("id", tokenId).bind("identity", identityId).execute()) > 0;
    }

    // ---- SSH keys ----

    @Override
    public KeyInsert insertSshKey(SshKey k) {
        return db.inTransaction(h -> {
            if (findIdentityIn(h, k.identityId()).isEmpty()) return KeyInsert.NO_IDENTITY;
            int n = h.createUpdate("""
                    INSERT INTO ssh_keys (id, identity_id, public_key, fingerprint, comment, created_at)
                    VALUES (:id, :identity, :key, :fp, :comment, :at) ON CONFLICT (fingerprint) DO NOTHING
                    """).bind("id", k.id()).bind("identity", k.identityId()).bind("key", k.publicKey())
                    .bind("fp", k.fingerprint()).bind("comment", k.comment()).bind("at", k.createdAt().toEpochMilli())
                    .execute();
            return n == 0 ? KeyInsert.KEY_IN_USE : KeyInsert.INSERTED;
        });
    }

    @Override
    public Optional<SshKey> findSshKeyByFingerprint(String fingerprint) {
        return db.read(h -> h.createQuery("SELECT * FROM ssh_keys WHERE fingerprint = :fp").bind("fp", fingerprint)
                .map(SqlIdentityStore::mapKey).findOne());
    }

    @Override
    public List<SshKey> listSshKeys(String identityId) {
        return db.read(h -> h.createQuery("SELECT * FROM ssh_keys WHERE identity_id = :identity ORDER BY created_at, id")
                .bind("identity", identityId).map(SqlIdentityStore::mapKey).list());
    }

    @Override
    public boolean deleteSshKey(String identityId, String keyId) {
        return db.inTransaction(h -> h.createUpdate("DELETE FROM ssh_keys WHERE id = :id AND identity_id = :identity")
                .bind("id", keyId).bind("identity", identityId).execute()) > 0;
    }

    // ---- mapping ----

    private static Optional<Identity> findIdentityIn(Handle h, String id) {
        return h.createQuery("SELECT * FROM identities WHERE id = :id").bind("id", id)
                .map(SqlIdentityStore::mapIdentity).findOne();
    }

    private static Optional<VmPermission> findPermissionIn(Handle h, String identityId, String vmId) {
        return h.createQuery("SELECT * FROM vm_permissions WHERE identity_id = :identity AND vm_id = :vm")
                .bind("identity", identityId).bind("vm", vmId).map(SqlIdentityStore::mapPermission).findOne();
    }

    private static Identity mapIdentity(ResultSet rs, StatementContext ctx) throws SQLException {
        return new Identity(rs.getString("id"), rs.getBoolean("managed"), Instant.ofEpochMilli(rs.getLong("created_at")));
    }

    private static VmPermission mapPermission(ResultSet rs, StatementContext ctx) throws SQLException {
        return new VmPermission(rs.getString("id"), rs.getString("identity_id"), rs.getString("vm_id"),
                users(rs.getString("allowed_users")), Instant.ofEpochMilli(rs.getLong("granted_at")),
                rs.getString("granted_by"));
    }

    private static AccessToken mapToken(ResultSet rs, StatementContext ctx) throws SQLException {
        return new AccessToken(rs.getString("id"), rs.getString("identity_id"), rs.getString("sha256"),
                Instant.ofEpochMilli(rs.getLong("created_at")), instant(rs, "expires_at"), instant(rs, "revoked_at"));
    }

    private static SshKey mapKey(ResultSet rs, StatementContext ctx) throws SQLException {
        return new SshKey(rs.getString("id"), rs.getString("identity_id"), rs.getString("public_key"),
                rs.getString("fingerprint"), rs.getString("comment"), Instant.ofEpochMilli(rs.getLong("created_at")));
    }

    private static Instant instant(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : Instant.ofEpochMilli(v);
    }

    private static Long millis(Instant at) {
        return at == null ? null : at.toEpochMilli();
    }

    private static String usersJson(List<String> users) {
        if (users == null) return null;
        try {
            return JSON.writeValueAsString(users);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize allowed users", e);
        }
    }

    private static List<String> users(String json) {
        if (json == null) return null;
        try {
            return JSON.readValue(json, USERS);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("stored allowed users are unreadable: " + e.getOriginalMessage(), e);
        }
    }
}
