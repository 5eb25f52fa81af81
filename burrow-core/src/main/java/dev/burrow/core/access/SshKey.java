package dev.burrow.core.access;

import java.time.Instant;

/**
 * A public key registered to an identity. {@code publicKey} is the OpenSSH form without comment
 * ({@code ssh-ed25519 AAAA…}); {@code fingerprint} is what {@code ssh-keygen -l} prints ({@code SHA256:…}).
 */
public record SshKey(String id, String identityId, String publicKey, String fingerprint, String comment,
                     Instant createdAt) { }
