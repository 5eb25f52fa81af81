package dev.burrow.core.store;

import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Who holds a lease or a claim: the node (a host, several of which may share one database) and a token unique to one
 * holder on it (a server process, a worker), so that a restarted server or a second worker on the same node is a
 * different owner from the one before it. Only the owner renews or releases what it holds.
 */
public record Owner(String node, String token) {
    private static final SecureRandom RANDOM = new SecureRandom();

    public Owner {
        if (node == null || node.isBlank()) throw new IllegalArgumentException("an owner needs a node");
        if (token == null || token.isBlank()) throw new IllegalArgumentException("an owner needs a token");
    }

    /** A new owner on {@code node} with a random token. */
    public static Owner on(String node) {
        byte[] b = new byte[8];
        RANDOM.nextBytes(b);
        return new Owner(node, HexFormat.of().formatHex(b));
    }

    @Override
    public String toString() {
        return node + "/" + token;
    }
}
