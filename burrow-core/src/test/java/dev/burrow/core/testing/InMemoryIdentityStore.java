package dev.burrow.core.testing;

import java.time.Instant;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import dev.burrow.core.access.AccessToken;
import dev.burrow.core.access.Identity;
import dev.burrow.core.access.SshKey;
import dev.burrow.core.access.VmPermission;
import dev.burrow.core.store.IdentityStore;

/**
 * Identities, permissions, tokens and SSH keys in maps, one lock for all (the SQL store's transactions): deleting an
 * identity deletes what it owns; lists are oldest first.
 */
public final class InMemoryIdentityStore implements IdentityStore {
    private final Map<String, Identity> identities = new LinkedHashMap<>();
    /** Keyed by identity id + " " + VM id: one permission per identity and VM. */
    private final Map<String, VmPermission> permissions = new LinkedHashMap<>();
    private final Map<String, AccessToken> tokens = new LinkedHashMap<>();
    /** Keyed by fingerprint: a key belongs to at most one identity. */
    private final Map<String, SshKey> keys = new LinkedHashMap<>();

    @Override
    public synchronized void insertIdentity(Identity identity) {
        if (identities.putIfAbsent(identity.id(), identity) != null) {
            throw new IllegalStateException("duplicate identity " + identity.id());
        }
    }

    @Override
    public synchronized Optional<Identity> findIdentity(String id) {
        return Optional.ofNullable(identities.get(id));
    }

    @Override
    public synchronized List<Identity> listIdentities(boolean includeManaged, int limit, int offset) {
        return identities.values().stream().filter(i -> includeManaged || !i.managed())
                .sorted(Comparator.comparing(Identity::createdAt).thenComparing(Identity::id))
                .skip(offset).limit(limit).toList();
    }

    @Override
    public synchronized int countIdentities(boolean includeManaged) {
        return (int) identities.values().stream().filter(i -> includeManaged || !i.managed()).count();
    }

    @Override
    public synchronized boolean deleteIdentity(String id) {
        permissions.values().removeIf(p -> p.identityId().equals(id));
        tokens.values().removeIf(t -> t.identityId().equals(id));
        keys.values().removeIf(k -> k.identityId().equals(id));
        return identities.remove(id) != null;
    }

    // ---- VM permissions ----

    @Override
    public synchronized Optional<VmPermission> upsertPermission(VmPermission p) {
        if (!identities.containsKey(p.identityId())) return Optional.empty();
        VmPermission old = permissions.get(key(p.identityId(), p.vmId()));
        VmPermission stored = old == null ? p
                : new VmPermission(old.id(), p.identityId(), p.vmId(), p.allowedUsers(), p.grantedAt(), p.grantedBy());
        permissions.put(key(p.identityId(), p.vmId()), stored);
        return Optional.of(stored);
    }

    @Override
    public synchronized Optional<VmPermission> updatePermission(String identityId, String vmId, List<String> allowedUsers) {
        VmPermission old = permissions.get(key(identityId, vmId));
        if (old == null) return Optional.empty();
        VmPermission updated = new VmPermission(old.id(), identityId, vmId, allowedUsers, old.grantedAt(), old.grantedBy());
        permissions.put(key(identityId, vmId), updated);
        return Optional.of(updated);
    }

    @Override
    public synchronized Optional<VmPermission> findPermission(String identityId, String vmId) {
        return Optional.ofNullable(permissions.get(key(identityId, vmId)));
    }

    @Override
    public synchronized List<VmPermission> listPermissions(String identityId, int limit, int offset) {
        return permissions.values().stream().filter(p -> p.identityId().equals(identityId))
                .sorted(Comparator.comparing(VmPermission::grantedAt).thenComparing(VmPermission::id))
                .skip(offset).limit(limit).toList();
    }

    @Override
    public synchronized int countPermissions(String identityId) {
        return (int) permissions.values().stream().filter(p -> p.identityId().equals(identityId)).count();
    }

    @Override
    public synchronized boolean deletePermission(String identityId, String vmId) {
        return permissions.remove(key(identityId, vmId)) != null;
    }

    @Override
    public synchronized int deletePermissionsForVm(String vmId) {
        int before = permissions.size();
        permissions.values().removeIf(p -> p.vmId().equals(vmId));
        return before - permissions.size();
    }

    // ---- tokens ----

    @Override
    public synchronized boolean insertToken(AccessToken token) {
        if (!identities.containsKey(token.identityId())) return false;
        if (tokens.putIfAbsent(token.id(), token) != null) throw new IllegalStateException("duplicate token " + token.id());
        return true;
    }

    @Override
    public synchronized Optional<AccessToken> findTokenByHash(String sha256) {
        return tokens.values().stream().filter(t -> t.sha256().equals(sha256)).findFirst();
    }

    @Override
    public synchronized List<AccessToken> listTokens(String identityId) {
        return tokens.values().stream().filter(t -> t.identityId().equals(identityId) && t.revokedAt() == null)
                .sorted(Comparator.comparing(AccessToken::createdAt).thenComparing(AccessToken::id)).toList();
    }

    @Override
    public synchronized boolean revokeToken(String identityId, String tokenId, Instant at) {
        AccessToken t = tokens.get(tokenId);
        if (t == null || !t.identityId().equals(identityId) || t.revokedAt() != null) return false;
        tokens.put(tokenId, new AccessToken(t.id(), t.identityId(), t.sha256(), t.createdAt(), t.expiresAt(), at));
        return true;
    }

    // ---- SSH keys ----

    @Override
    public synchronized KeyInsert insertSshKey(SshKey key) {
        if (!identities.containsKey(key.identityId())) return KeyInsert.NO_IDENTITY;
        return keys.putIfAbsent(key.fingerprint(), key) == null ? KeyInsert.INSERTED : KeyInsert.KEY_IN_USE;
    }

    @Override
    public synchronized Optional<SshKey> findSshKeyByFingerprint(String fingerprint) {
        return Optional.ofNullable(keys.get(fingerprint));
    }

    @Override
    public synchronized List<SshKey> listSshKeys(String identityId) {
        return keys.values().stream().filter(k -> k.identityId().equals(identityId))
                .sorted(Comparator.comparing(SshKey::createdAt).thenComparing(SshKey::id)).toList();
    }

    @Override
    public synchronized boolean deleteSshKey(String identityId, String keyId) {
        return keys.values().removeIf(k -> k.id().equals(keyId) && k.identityId().equals(identityId));
    }

    private static String key(String identityId, String vmId) {
        return identityId + " " + vmId;
    }
}
