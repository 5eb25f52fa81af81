package dev.burrow.server.proxy;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Preview tokens: HMAC-SHA256 of {@code vmId:port} under the server's preview secret. Nothing to store per token;
 * a token stays valid as long as the VM and the secret ({@code <data-dir>/preview-secret}) exist.
 */
public final class PreviewTokens {
    private final byte[] secret;

    public PreviewTokens(byte[] secret) {
        if (secret.length < 16) throw new IllegalArgumentException("preview secret too short");
        this.secret = secret.clone();
    }

    public String token(String vmId, int port) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            byte[] h = mac.doFinal((vmId + ":" + port).getBytes(StandardCharsets.UTF_8));
            return Base64.getUrlEncoder().withoutPadding().encodeToString(h);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Constant-time comparison, so response timing tells nothing about how much of a guess was right. */
    static boolean same(String a, String b) {
        return MessageDigest.isEqual(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }
}
