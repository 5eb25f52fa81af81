package dev.burrow.server.ssh;

import java.security.PublicKey;

import dev.burrow.core.access.AccessDecision;
import dev.burrow.core.access.VmAccess;

/** What a session authenticated with, kept so every new channel can be checked again. */
sealed interface Credential {
    AccessDecision check(VmAccess access, SshLogin login);

    record Token(String token) implements Credential {
        @Override
        public AccessDecision check(VmAccess access, SshLogin login) {
            return access.checkToken(login.vmId(), token, login.linuxUser());
        }
    }

    record Key(PublicKey key) implements Credential {
        @Override
        public AccessDecision check(VmAccess access, SshLogin login) {
            return access.checkPublicKey(login.vmId(), key, login.linuxUser());
        }
    }
}
