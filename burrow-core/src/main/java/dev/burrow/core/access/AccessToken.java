package dev.burrow.core.access;

import java.time.Instant;

/**
 * An identity's access token as stored: only the SHA-256 of the secret (hex), never the secret itself, which
 * is shown once when the token is issued. {@code expiresAt} null: no expiry; {@code revokedAt} null: not revoked.
 */
public record AccessToken(String id, String identityId, String sha256, Instant createdAt, Instant expiresAt,
                          Instant revokedAt) {

    /** Usable at {@code now}: not revoked and not yet expired (a token expiring exactly now is expired). */
    public boolean activeAt(Instant now) {
        return revokedAt == null && (expiresAt == null || now.isBefore(expiresAt));
    }
}
