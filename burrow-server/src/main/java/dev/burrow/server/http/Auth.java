package dev.burrow.server.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.store.ApiKeyStore;
import io.javalin.http.Context;

/** Bearer-key authentication: only SHA-256 hashes of keys are stored and compared. */
public final class Auth {
    private static final String KEY_ID = "burrow.apiKeyId";
    private final ApiKeyStore keys;
    /** Other credentials a WebSocket upgrade's {@code access_token} may be (a VM-scoped identity token); none by default. */
    private volatile UpgradeCredentials otherUpgradeCredentials = (ctx, token) -> false;

    /** Whether {@code token}, which is no API key, admits this WebSocket upgrade. */
    @FunctionalInterface
    public interface UpgradeCredentials {
        boolean accepts(Context ctx, String token);
    }

    public Auth(ApiKeyStore keys) {
        this.keys = keys;
    }

    public void check(Context ctx) {
        String header = ctx.header("Authorization");
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7) || header.length() <= 7) {
            throw new BurrowException(ErrorCode.UNAUTHORIZED,
                    "missing API key: send 'Authorization: Bearer <key>'");
        }
        String key = header.substring(7).trim();
        var found = keys.findByHash(sha256(key));
        if (found.isEmpty()) {
            throw new BurrowException(ErrorCode.UNAUTHORIZED, "invalid API key");
        }
        ctx.attribute(KEY_ID, found.get().id());
    }

    /** The id of the API key the request authenticated with (who granted a permission, …); null before auth. */
    public static String keyId(Context ctx) {
        return ctx.attribute(KEY_ID);
    }

    /**
     * A WebSocket upgrade: the bearer header, or (browsers cannot set headers on a WebSocket) the key as the
     * {@code access_token} query parameter. Query strings end up in proxy logs: prefer the header where possible.
     */
    public void checkUpgrade(Context ctx) {
        String token = ctx.queryParam("access_token");
        if (ctx.header("Authorization") != null || token == null || token.isBlank()) {
            check(ctx);
            return;
        }
        var found = keys.findByHash(sha256(token.trim()));
        if (found.isPresent()) {
            ctx.attribute(KEY_ID, found.get().id());
            return;
        }
        if (otherUpgradeCredentials.accepts(ctx, token.trim())) return;
        throw new BurrowException(ErrorCode.UNAUTHORIZED, "invalid API key or access token");
    }

    /** Lets WebSocket upgrades also authenticate with what {@code credentials} accepts (e.g. identity tokens). */
    public void acceptOnUpgrade(UpgradeCredentials credentials) {
        this.otherUpgradeCredentials = credentials;
    }

    public static String sha256(String secret) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }
}
