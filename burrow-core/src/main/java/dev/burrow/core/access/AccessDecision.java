package dev.burrow.core.access;

/** The outcome of a {@link VmAccess} check. */
public sealed interface AccessDecision {

    /** Allowed; {@code tokenId} is null when a public key was used. */
    record Granted(String identityId, String tokenId) implements AccessDecision { }

    /** Refused; {@code reason} is for the server log, never sent to the client (it would help guessing). */
    record Denied(String reason) implements AccessDecision { }

    default boolean granted() {
        return this instanceof Granted;
    }
}
