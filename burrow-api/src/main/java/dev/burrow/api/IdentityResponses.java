package dev.burrow.api;

import java.time.Instant;
import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * Shapes of the {@code /identity/v1} routes as the Freestyle SDK declares them (its {@code *IdentityV1*} types),
 * plus Burrow's additions: timestamps, token expiry and SSH public keys.
 */
public final class IdentityResponses {
    private IdentityResponses() { }

    public record IdentityInfo(String id, boolean managed, Instant createdAt) { }

    public record ListIdentitiesResponse(List<IdentityInfo> identities, int offset, int total) { }

    /** {@code allowedUsers} null or absent: the identity may log in as any Linux user. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record VmPermissionRequest(List<String> allowedUsers) { }

    /** The SDK's "full VM permission record"; {@code allowedUsers} is null for any user. */
    public record VmPermissionInfo(String id, String vmId, String identityId, List<String> allowedUsers,
                                   Instant grantedAt, String grantedBy) { }

    public record ListVmPermissionsResponse(List<VmPermissionInfo> permissions, int offset, int total) { }

    /**
     * Burrow extension: the SDK sends no body (a token without expiry); give one of the two for an expiry.
     * {@code expiresAt} is an ISO-8601 instant, kept as text so a malformed one gets a precise error.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record CreateTokenRequest(Long expiresInSeconds, String expiresAt) { }

    /** {@code token} is the secret, shown only here; {@code id} names the token for listing and revoking. */
    public record CreateTokenResponse(String id, String token, Instant createdAt, Instant expiresAt) { }

    /** A token that was not revoked; {@code expiresAt} null: no expiry. */
    public record TokenInfo(String id, Instant createdAt, Instant expiresAt, boolean expired) { }

    public record ListTokensResponse(List<TokenInfo> tokens) { }

    /** Burrow extension: one OpenSSH public key line, e.g. {@code ssh-ed25519 AAAA… me@laptop}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record AddSshKeyRequest(String publicKey) { }

    /** {@code publicKey} without its comment; {@code fingerprint} as {@code ssh-keygen -l} prints it. */
    public record SshKeyInfo(String id, String identityId, String publicKey, String fingerprint, String comment,
                             Instant createdAt) { }

    public record ListSshKeysResponse(List<SshKeyInfo> sshKeys) { }
}
