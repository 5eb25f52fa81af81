package dev.burrow.core.store;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

import dev.burrow.core.access.AccessToken;
import dev.burrow.core.access.Identity;
import dev.burrow.core.access.SshKey;
import dev.burrow.core.access.VmPermission;

/**
 * Identities with their VM permissions, access tokens and SSH keys. Deleting an identity deletes all three in
 * the same transaction. Lists are oldest first, so offsets stay stable while new rows are added.
 */
public interface IdentityStore {

    void insertIdentity(Identity identity);

    Optional<Identity> findIdentity(String id);

    List<Identity> listIdentities(boolean includeManaged, int limit, int offset);

    int countIdentities(boolean includeManaged);

    /** Removes the identity, its permissions, tokens and keys; false when there was none. */
    boolean deleteIdentity(String id);

    // ---- VM permissions (one per identity and VM) ----

    /**
     * Grants, or re-grants with new users (keeping the permission's id), the permission's identity access to
     * its VM. Empty when the identity does not exist.
     */
    Optional<VmPermission> upsertPermission(VmPermission permission);

    /** Replaces the allowed users of an existing permission; empty when there is none. */
    Optional<VmPermission> updatePermission(String identityId, String vmId, List<String> allowedUsers);

    Optional<VmPermission> findPermission(String identityId, String vmId);

    List<VmPermission> listPermissions(String identityId, int limit, int offset);

    int countPermissions(String identityId);

    boolean deletePermission(String identityId, String vmId);

    /** Drops every identity's permission on a VM (the VM is gone); returns how many there were. */
    int deletePermissionsForVm(String vmId);

    // ---- access tokens ----

    /** False, inserting nothing, when the identity does not exist. */
    boolean insertToken(AccessToken token);

    Optional<AccessToken> findTokenByHash(String sha256);

    /** Tokens not revoked, oldest first (expired ones included: they still exist until revoked). */
    List<AccessToken> listTokens(String identityId);

    /** Marks a token revoked; false when it does not exist, belongs to another identity or was revoked before. */
    boolean revokeToken(String identityId, String tokenId, Instant at);

    // ---- SSH public keys (a key belongs to at most one identity) ----

    /** Result of {@link #insertSshKey}. */
    enum KeyInsert { INSERTED, NO_IDENTITY, KEY_IN_USE }

    KeyInsert insertSshKey(SshKey key);

    Optional<SshKey> findSshKeyByFingerprint(String fingerprint);

    List<SshKey> listSshKeys(String identityId);

    boolean deleteSshKey(String identityId, String keyId);
}
