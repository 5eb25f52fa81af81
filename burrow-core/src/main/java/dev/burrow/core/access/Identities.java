package dev.burrow.core.access;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.store.IdentityStore;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmStatus;

/**
 * Identities, their VM permissions, access tokens and SSH keys (the Freestyle identity API), and the
 * {@link VmAccess} decision the SSH gateway asks on every login and every new channel.
 *
 * <p>A permission on a VM that is gone (deleted, being deleted, or unknown) is dead: it grants nothing, whether or
 * not its row was already dropped. Rows are dropped by {@link #vmDeletionListener()} once a VM is deleted; a crash
 * between the VM's deletion and that cleanup leaves a dead row, never a live one.
 */
public final class Identities implements VmAccess {
    private static final Logger log = LoggerFactory.getLogger(Identities.class);

    /** Tokens are {@code bt_} + 43 base64url characters: nothing in them can end the {@code vmId:token} SSH user. */
    public static final String TOKEN_PREFIX = "bt_";
    private static final int TOKEN_BYTES = 32;
    private static final Pattern TOKEN_SHAPE = Pattern.compile("bt_[A-Za-z0-9_-]{43}");
    /**
     * Linux user names an identity may be limited to: what useradd accepts in practice, minus anything that could
     * be confused with the gateway's {@code vmId+user:token} separators.
     */
    private static final Pattern LINUX_USER = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\\$?");
    public static final int MAX_ALLOWED_USERS = 64;
    /** Expiries beyond this are typos, and would overflow some clients' date types. */
    private static final Duration MAX_TOKEN_LIFETIME = Duration.ofDays(3650);

    private final IdentityStore store;
    private final VmStore vms;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();

    public Identities(IdentityStore store, VmStore vms, Clock clock) {
        this.store = store;
        this.vms = vms;
        this.clock = clock;
    }

    /** One page of a list and the total it was cut from. */
    public record Page<T>(List<T> items, int offset, int total) { }

    /** A token as issued: the secret is returned this once and never stored. */
    public record IssuedToken(AccessToken token, String secret) { }

    // ---- identities ----

    public Identity create() {
        Identity identity = new Identity(UUID.randomUUID().toString(), false, now());
        store.insertIdentity(identity);
        return identity;
    }

    public Identity get(String identityId) {
        return store.findIdentity(identityId).orElseThrow(() -> identityNotFound(identityId));
    }

    public Page<Identity> list(boolean includeManaged, int limit, int offset) {
        return new Page<>(store.listIdentities(includeManaged, limit, offset), offset,
                store.countIdentities(includeManaged));
    }

    public void delete(String identityId) {
        if (!store.deleteIdentity(identityId)) throw identityNotFound(identityId);
    }

    // ---- VM permissions ----

    /** Grants access to a live VM; granting again replaces the allowed users. */
    public VmPermission grant(String identityId, String vmId, List<String> allowedUsers, String grantedBy) {
        get(identityId);
        requireLiveVm(vmId);
        var p = new VmPermission(UUID.randomUUID().toString(), identityId, vmId, validUsers(allowedUsers), now(), grantedBy);
        return store.upsertPermission(p).orElseThrow(() -> identityNotFound(identityId));
    }

    public VmPermission updatePermission(String identityId, String vmId, List<String> allowedUsers) {
        get(identityId);
        List<String> users = validUsers(allowedUsers);
        return store.updatePermission(identityId, vmId, users).orElseThrow(() -> permissionNotFound(identityId, vmId));
    }

    public VmPermission permission(String identityId, String vmId) {
        get(identityId);
        return store.findPermission(identityId, vmId).orElseThrow(() -> permissionNotFound(identityId, vmId));
    }

    public Page<VmPermission> permissions(String identityId, int limit, int offset) {
        get(identityId);
        return new Page<>(store.listPermissions(identityId, limit, offset), offset, store.countPermissions(identityId));
    }

    public void revokePermission(String identityId, String vmId) {
        get(identityId);
        if (!store.deletePermission(identityId, vmId)) throw permissionNotFound(identityId, vmId);
    }

    /** Drops the permissions on a VM once it is deleted (they are dead from then on anyway). */
    public TransitionListener vmDeletionListener() {
        return (vm, from, op, cause, durationMs, reason) -> {
            if (vm.status() != VmStatus.DELETED) return;
            try {
                int n = store.deletePermissionsForVm(vm.id());
                if (n > 0) log.info("dropped {} identity permission(s) of deleted VM vm_id={}", n, vm.id());
            } catch (RuntimeException e) {
                log.warn("could not drop identity permissions of deleted VM vm_id={} (they grant nothing): {}",
                        vm.id(), e.getMessage());
            }
        };
    }

    // ---- tokens ----

    /**
     * Issues a token; {@code expiresInSeconds} or {@code expiresAt} (not both) sets an expiry, neither means none.
     */
    public IssuedToken issueToken(String identityId, Long expiresInSeconds, Instant expiresAt) {
        get(identityId);
        Instant now = now();
        Instant expiry = null;
        if (expiresInSeconds != null && expiresAt != null) {
            throw BurrowException.of(ErrorCode.INVALID_EXPIRY, "give either 'expiresInSeconds' or 'expiresAt', not both");
        }
        if (expiresInSeconds != null) {
            if (expiresInSeconds <= 0 || expiresInSeconds > MAX_TOKEN_LIFETIME.toSeconds()) {
                throw BurrowException.of(ErrorCode.INVALID_EXPIRY,
                        "'expiresInSeconds' must be between 1 and " + MAX_TOKEN_LIFETIME.toSeconds() + ", got " + expiresInSeconds);
            }
            expiry = now.plusSeconds(expiresInSeconds);
        } else if (expiresAt != null) {
            if (!expiresAt.isAfter(now) || expiresAt.isAfter(now.plus(MAX_TOKEN_LIFETIME))) {
                throw BurrowException.of(ErrorCode.INVALID_EXPIRY,
                        "'expiresAt' must be in the future and at most " + MAX_TOKEN_LIFETIME.toDays() + " days away, got " + expiresAt);
            }
            expiry = expiresAt.truncatedTo(ChronoUnit.MILLIS);
        }
        byte[] secretBytes = new byte[TOKEN_BYTES];
        random.nextBytes(secretBytes);
        String secret = TOKEN_PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(secretBytes);
        var token = new AccessToken(UUID.randomUUID().toString(), identityId, sha256Hex(secret), now, expiry, null);
        if (!store.insertToken(token)) throw identityNotFound(identityId);
        return new IssuedToken(token, secret);
    }

    public List<AccessToken> tokens(String identityId) {
        get(identityId);
        return store.listTokens(identityId);
    }

    public void revokeToken(String identityId, String tokenId) {
        get(identityId);
        if (!store.revokeToken(identityId, tokenId, now())) {
            throw BurrowException.of(ErrorCode.TOKEN_NOT_FOUND, "no active token " + abbreviate(tokenId)
                    + " for identity " + abbreviate(identityId));
        }
    }

    // ---- SSH keys ----

    public SshKey addSshKey(String identityId, String publicKeyLine) {
        get(identityId);
        SshPublicKeys.Parsed parsed;
        try {
            parsed = SshPublicKeys.parse(publicKeyLine);
        } catch (SshPublicKeys.InvalidKeyException e) {
            throw BurrowException.of(ErrorCode.INVALID_PUBLIC_KEY, "invalid 'publicKey': " + e.getMessage());
        }
        String comment = parsed.comment();
        if (comment != null && comment.length() > 255) comment = comment.substring(0, 255);
        var key = new SshKey(UUID.randomUUID().toString(), identityId, parsed.openSsh(), parsed.fingerprint(), comment, now());
        return switch (store.insertSshKey(key)) {
            case INSERTED -> key;
            case NO_IDENTITY -> throw identityNotFound(identityId);
            case KEY_IN_USE -> throw BurrowException.of(ErrorCode.SSH_KEY_IN_USE,
                    "the key " + key.fingerprint() + " is already registered (a key belongs to one identity)");
        };
    }

    public List<SshKey> sshKeys(String identityId) {
        get(identityId);
        return store.listSshKeys(identityId);
    }

    public void deleteSshKey(String identityId, String keyId) {
        get(identityId);
        if (!store.deleteSshKey(identityId, keyId)) {
            throw BurrowException.of(ErrorCode.SSH_KEY_NOT_FOUND, "no SSH key " + abbreviate(keyId)
                    + " for identity " + abbreviate(identityId));
        }
    }

    // ---- VmAccess ----

    @Override
    public AccessDecision checkToken(String vmId, String token, String linuxUser) {
        if (token == null || !TOKEN_SHAPE.matcher(token).matches()) return new AccessDecision.Denied("malformed token");
        try {
            byte[] hash = sha256(token);
            String hex = HexFormat.of().formatHex(hash);
            Optional<AccessToken> found = store.findTokenByHash(hex);
            // The lookup is by hash already; comparing again in constant time costs nothing and keeps a
            // case-insensitive collation or index quirk from ever matching a different hash.
            if (found.isEmpty() || !MessageDigest.isEqual(HexFormat.of().parseHex(found.get().sha256()), hash)) {
                return new AccessDecision.Denied("unknown token");
            }
            AccessToken t = found.get();
            if (t.revokedAt() != null) return new AccessDecision.Denied("token " + t.id() + " was revoked");
            if (!t.activeAt(now())) return new AccessDecision.Denied("token " + t.id() + " expired at " + t.expiresAt());
            return decide(t.identityId(), vmId, linuxUser, t.id(), "token " + t.id());
        } catch (RuntimeException e) {
            log.warn("access check failed closed vm_id={}: {}", vmId, e.getMessage());
            return new AccessDecision.Denied("access check failed: " + e.getMessage());
        }
    }

    @Override
    public AccessDecision checkPublicKey(String vmId, PublicKey key, String linuxUser) {
        String fingerprint;
        try {
            fingerprint = SshPublicKeys.fingerprint(key);
        } catch (IllegalArgumentException e) {
            return new AccessDecision.Denied("unsupported key: " + e.getMessage());
        }
        try {
            Optional<SshKey> registered = store.findSshKeyByFingerprint(fingerprint);
            if (registered.isEmpty()) return new AccessDecision.Denied("key " + fingerprint + " is not registered");
            return decide(registered.get().identityId(), vmId, linuxUser, null, "key " + fingerprint);
        } catch (RuntimeException e) {
            log.warn("access check failed closed vm_id={}: {}", vmId, e.getMessage());
            return new AccessDecision.Denied("access check failed: " + e.getMessage());
        }
    }

    private AccessDecision decide(String identityId, String vmId, String linuxUser, String tokenId, String credential) {
        Optional<VmPermission> p = store.findPermission(identityId, vmId);
        if (p.isEmpty()) {
            return new AccessDecision.Denied(credential + ": identity " + identityId + " has no permission on VM " + vmId);
        }
        if (linuxUser == null || !p.get().allows(linuxUser)) {
            return new AccessDecision.Denied(credential + ": identity " + identityId + " may not log in to VM " + vmId
                    + " as '" + linuxUser + "' (allowed: " + p.get().allowedUsers() + ")");
        }
        if (!liveVm(vmId)) return new AccessDecision.Denied("VM " + vmId + " is gone");
        return new AccessDecision.Granted(identityId, tokenId);
    }

    // ---- helpers ----

    private boolean liveVm(String vmId) {
        if (!VmId.valid(vmId)) return false;
        Optional<Vm> vm = vms.find(vmId);
        return vm.isPresent() && vm.get().status() != VmStatus.DELETED && vm.get().status() != VmStatus.DELETING;
    }

    private void requireLiveVm(String vmId) {
        if (!VmId.valid(vmId)) {
            throw BurrowException.of(ErrorCode.INVALID_VM_ID,
                    "invalid VM id '" + abbreviate(vmId) + "': VM ids are 20 lowercase letters and digits");
        }
        if (!liveVm(vmId)) throw BurrowException.of(ErrorCode.VM_NOT_FOUND, "VM not found: " + vmId);
    }

    /** Null stays null (any user); a list is checked, de-duplicated and kept in the caller's order. */
    static List<String> validUsers(List<String> users) {
        if (users == null) return null;
        if (users.size() > MAX_ALLOWED_USERS) {
            throw BurrowException.of(ErrorCode.INVALID_LINUX_USER, "'allowedUsers' may list at most " + MAX_ALLOWED_USERS + " users");
        }
        var unique = new LinkedHashSet<String>();
        for (String u : users) {
            if (u == null || !LINUX_USER.matcher(u).matches()) {
                throw BurrowException.of(ErrorCode.INVALID_LINUX_USER, "'allowedUsers' entry "
                        + (u == null ? "null" : "'" + abbreviate(u) + "'")
                        + " is not a Linux user name (letters, digits, '_', '.', '-'; at most 32)");
            }
            unique.add(u);
        }
        return new ArrayList<>(unique);
    }

    /** The service's clock, to the millisecond the store keeps. */
    public Instant now() {
        return clock.instant().truncatedTo(ChronoUnit.MILLIS);
    }

    public static String sha256Hex(String secret) {
        return HexFormat.of().formatHex(sha256(secret));
    }

    private static byte[] sha256(String secret) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }

    private static BurrowException identityNotFound(String id) {
        return BurrowException.of(ErrorCode.IDENTITY_NOT_FOUND, "identity not found: " + abbreviate(id));
    }

    private static BurrowException permissionNotFound(String identityId, String vmId) {
        return BurrowException.of(ErrorCode.VM_PERMISSION_NOT_FOUND,
                "identity " + abbreviate(identityId) + " has no permission on VM " + abbreviate(vmId));
    }

    private static String abbreviate(String s) {
        if (s == null) return "null";
        String clean = s.replaceAll("[^\\x20-\\x7e]", "?");
        return clean.length() > 64 ? clean.substring(0, 64) + "…" : clean;
    }
}
