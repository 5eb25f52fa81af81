package dev.burrow.core.access;

import java.security.PublicKey;

/**
 * Decides whether a person or agent may enter a VM interactively (SSH, terminals) as a Linux user. The
 * credential is an identity's access token or a public key registered to an identity; the identity needs a
 * permission on the VM whose {@code allowedUsers} (null: any user) contains the user. Checked on every login
 * and again on every new channel of an open session, so a revoked or expired token stops working at once.
 */
public interface VmAccess {

    AccessDecision checkToken(String vmId, String token, String linuxUser);

    AccessDecision checkPublicKey(String vmId, PublicKey key, String linuxUser);

    /** Refuses everything: the null object for servers without identities. */
    VmAccess DENY_ALL = new VmAccess() {
        @Override
        public AccessDecision checkToken(String vmId, String token, String linuxUser) {
            return new AccessDecision.Denied("no identities are configured");
        }

        @Override
        public AccessDecision checkPublicKey(String vmId, PublicKey key, String linuxUser) {
            return new AccessDecision.Denied("no identities are configured");
        }
    };
}
