package dev.burrow.core.access;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.EdECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.EdECPoint;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.security.spec.RSAPublicKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * OpenSSH public keys (RFC 4253/5656/8709 wire format) in plain JDK: parses the {@code type base64 comment} line
 * users paste, and fingerprints a {@link PublicKey} an SSH server hands over. Both sides go through the same
 * canonical encoding, so a registered key and the key a client offers compare by fingerprint, whatever provider
 * (JDK, BouncyCastle, net.i2p EdDSA) made the server's {@code PublicKey} object. The fingerprint equals what
 * {@code ssh-keygen -l} prints, because only canonically encoded keys are accepted.
 */
public final class SshPublicKeys {
    private SshPublicKeys() { }

    /** RSA keys below this are refused: OpenSSH itself no longer accepts them by default. */
    public static final int MIN_RSA_BITS = 2048;
    private static final int MAX_LINE = 16 * 1024;
    private static final Map<String, String> EC_CURVES = Map.of(
            "ecdsa-sha2-nistp256", "secp256r1",
            "ecdsa-sha2-nistp384", "secp384r1",
            "ecdsa-sha2-nistp521", "secp521r1");
    private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/]+={0,2}");

    /** A parsed key: {@code type}, the wire {@code blob}, the comment (null when none) and its JDK form. */
    public record Parsed(String type, byte[] blob, String comment, PublicKey key) {
        /** The OpenSSH form without the comment, as stored. */
        public String openSsh() {
            return type + " " + Base64.getEncoder().encodeToString(blob);
        }

        public String fingerprint() {
            return fingerprintOf(blob);
        }
    }

    /** Thrown for a line that is not a supported, well-formed public key; the message says what is wrong. */
    public static final class InvalidKeyException extends IllegalArgumentException {
        InvalidKeyException(String message) {
            super(message);
        }
    }

    /**
     * Parses one {@code authorized_keys}-style line without options: {@code <type> <base64> [comment]}.
     *
     * @throws InvalidKeyException when it is not a well-formed ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp* key
     */
    public static Parsed parse(String line) {
        if (line == null || line.isBlank()) throw new InvalidKeyException("the public key is empty");
        String s = line.strip();
        if (s.length() > MAX_LINE) throw new InvalidKeyException("the public key is longer than " + MAX_LINE + " characters");
        if (s.indexOf('\n') >= 0 || s.indexOf('\r') >= 0) throw new InvalidKeyException("give one public key, on one line");
        String[] parts = s.split("[ \t]+", 3);
        if (parts.length < 2) {
            throw new InvalidKeyException("expected '<type> <base64> [comment]' as in a .pub file, e.g. 'ssh-ed25519 AAAA… me@host'");
        }
        String type = parts[0];
        if (!type.equals("ssh-ed25519") && !type.equals("ssh-rsa") && !EC_CURVES.containsKey(type)) {
            throw new InvalidKeyException("unsupported key type '" + abbreviate(type)
                    + "' (supported: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521)");
        }
        if (!BASE64.matcher(parts[1]).matches()) throw new InvalidKeyException("the key data is not base64");
        byte[] blob;
        try {
            blob = Base64.getDecoder().decode(parts[1]);
        } catch (IllegalArgumentException e) {
            throw new InvalidKeyException("the key data is not base64");
        }
        PublicKey key = decode(blob);
        String inner = new Reader(blob).string();
        if (!inner.equals(type)) {
            throw new InvalidKeyException("the key data is a " + abbreviate(inner) + " key but the line says " + type);
        }
        // Re-encoding must give the same bytes: a padded or trailing-garbage blob would otherwise be stored with
        // a fingerprint OpenSSH would never show for it.
        if (!MessageDigest.isEqual(encode(key), blob)) throw new InvalidKeyException("the key data is not canonically encoded");
        String comment = parts.length == 3 && !parts[2].isBlank() ? parts[2].strip() : null;
        return new Parsed(type, blob, comment, key);
    }

    /** {@code SHA256:<base64 without padding>} of the key's wire encoding, as {@code ssh-keygen -l} prints it. */
    public static String fingerprint(PublicKey key) {
        return fingerprintOf(encode(key));
    }

    static String fingerprintOf(byte[] blob) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(blob);
            return "SHA256:" + Base64.getEncoder().withoutPadding().encodeToString(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }

    /**
     * The SSH wire encoding of a public key.
     *
     * @throws IllegalArgumentException for a key type SSH cannot carry here
     */
    public static byte[] encode(PublicKey key) {
        PublicKey k = toJdk(key);
        Writer w = new Writer();
        switch (k) {
            case RSAPublicKey rsa -> {
                w.string("ssh-rsa");
                w.mpint(rsa.getPublicExponent());
                w.mpint(rsa.getModulus());
            }
            case ECPublicKey ec -> {
                String curve = curveName(ec.getParams());
                int size = (ec.getParams().getCurve().getField().getFieldSize() + 7) / 8;
                w.string("ecdsa-sha2-" + curve);
                w.string(curve);
                byte[] point = new byte[1 + 2 * size];
                point[0] = 4; // uncompressed
                unsigned(ec.getW().getAffineX(), point, 1, size);
                unsigned(ec.getW().getAffineY(), point, 1 + size, size);
                w.bytes(point);
            }
            case EdECPublicKey ed when "Ed25519".equalsIgnoreCase(ed.getParams().getName()) -> {
                w.string("ssh-ed25519");
                w.bytes(ed25519Raw(ed.getPoint()));
            }
            default -> throw new IllegalArgumentException("unsupported public key type: " + key.getAlgorithm());
        }
        return w.toByteArray();
    }

    /** The wire blob as a JDK key. */
    static PublicKey decode(byte[] blob) {
        Reader r = new Reader(blob);
        try {
            String type = r.string();
            PublicKey key;
            if (type.equals("ssh-rsa")) {
                BigInteger e = r.mpint();
                BigInteger n = r.mpint();
                if (e.signum() <= 0 || n.signum() <= 0) throw new InvalidKeyException("invalid RSA key");
                if (n.bitLength() < MIN_RSA_BITS) {
                    throw new InvalidKeyException("RSA keys need at least " + MIN_RSA_BITS + " bits, this one has " + n.bitLength());
                }
                key = KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(n, e));
            } else if (EC_CURVES.containsKey(type)) {
                String curve = r.string();
                if (!type.equals("ecdsa-sha2-" + curve)) throw new InvalidKeyException("ECDSA key names curve " + abbreviate(curve));
                byte[] q = r.bytes();
                var params = ecParams(EC_CURVES.get(type));
                int size = (params.getCurve().getField().getFieldSize() + 7) / 8;
                if (q.length != 1 + 2 * size || q[0] != 4) throw new InvalidKeyException("invalid ECDSA point");
                ECPoint point = new ECPoint(new BigInteger(1, java.util.Arrays.copyOfRange(q, 1, 1 + size)),
                        new BigInteger(1, java.util.Arrays.copyOfRange(q, 1 + size, q.length)));
                if (!onCurve(point, params)) throw new InvalidKeyException("the ECDSA point is not on the curve");
                key = KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(point, params));
            } else if (type.equals("ssh-ed25519")) {
                byte[] raw = r.bytes();
                if (raw.length != 32) throw new InvalidKeyException("an Ed25519 key has 32 bytes, this one " + raw.length);
                byte[] le = raw.clone();
                boolean xOdd = (le[31] & 0x80) != 0;
                le[31] &= 0x7f;
                byte[] be = new byte[32];
                for (int i = 0; i < 32; i++) be[i] = le[31 - i];
                key = KeyFactory.getInstance("Ed25519").generatePublic(
                        new EdECPublicKeySpec(NamedParameterSpec.ED25519, new EdECPoint(xOdd, new BigInteger(1, be))));
            } else {
                throw new InvalidKeyException("unsupported key type '" + abbreviate(type) + "'");
            }
            if (r.remaining() != 0) throw new InvalidKeyException("the key data has trailing bytes");
            return key;
        } catch (GeneralSecurityException e) {
            throw new InvalidKeyException("the key data is not a valid key: " + e.getMessage());
        } catch (java.nio.BufferUnderflowException | IndexOutOfBoundsException e) {
            throw new InvalidKeyException("the key data is truncated");
        }
    }

    /**
     * A key from another provider (MINA SSHD hands out net.i2p or BouncyCastle Ed25519 keys) re-read through its
     * X.509 encoding as the JDK's own type, so one encoder serves them all.
     */
    private static PublicKey toJdk(PublicKey key) {
        if (key instanceof RSAPublicKey || key instanceof ECPublicKey || key instanceof EdECPublicKey) return key;
        if (key == null || !"X.509".equalsIgnoreCase(key.getFormat()) || key.getEncoded() == null) {
            throw new IllegalArgumentException("unsupported public key: " + (key == null ? "null" : key.getAlgorithm()));
        }
        String alg = switch (key.getAlgorithm().toUpperCase(Locale.ROOT)) {
            case "RSA" -> "RSA";
            case "EC", "ECDSA" -> "EC";
            case "EDDSA", "ED25519" -> "Ed25519";
            default -> throw new IllegalArgumentException("unsupported public key type: " + key.getAlgorithm());
        };
        try {
            return KeyFactory.getInstance(alg).generatePublic(new X509EncodedKeySpec(key.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("unreadable " + key.getAlgorithm() + " public key: " + e.getMessage(), e);
        }
    }

    private static String curveName(ECParameterSpec params) {
        for (var e : EC_CURVES.entrySet()) {
            ECParameterSpec known = ecParams(e.getValue());
            if (known.getCurve().equals(params.getCurve()) && known.getGenerator().equals(params.getGenerator())
                    && known.getOrder().equals(params.getOrder())) {
                return e.getKey().substring("ecdsa-sha2-".length());
            }
        }
        throw new IllegalArgumentException("unsupported elliptic curve (SSH supports nistp256, nistp384, nistp521)");
    }

    private static ECParameterSpec ecParams(String stdName) {
        try {
            var ap = java.security.AlgorithmParameters.getInstance("EC");
            ap.init(new java.security.spec.ECGenParameterSpec(stdName));
            return ap.getParameterSpec(ECParameterSpec.class);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK lacks curve " + stdName, e);
        }
    }

    /** y² = x³ + ax + b (mod p): the JDK's KeyFactory does not check it, and a bogus point is not a key. */
    private static boolean onCurve(ECPoint p, ECParameterSpec params) {
        var curve = params.getCurve();
        BigInteger prime = ((java.security.spec.ECFieldFp) curve.getField()).getP();
        BigInteger x = p.getAffineX();
        BigInteger y = p.getAffineY();
        if (x.compareTo(prime) >= 0 || y.compareTo(prime) >= 0) return false;
        BigInteger lhs = y.multiply(y).mod(prime);
        BigInteger rhs = x.pow(3).add(curve.getA().multiply(x)).add(curve.getB()).mod(prime);
        return lhs.equals(rhs);
    }

    private static byte[] ed25519Raw(EdECPoint point) {
        byte[] be = point.getY().toByteArray();
        byte[] le = new byte[32];
        for (int i = 0; i < be.length && i < 32; i++) le[i] = be[be.length - 1 - i];
        if (point.isXOdd()) le[31] |= (byte) 0x80;
        return le;
    }

    private static void unsigned(BigInteger v, byte[] out, int offset, int size) {
        byte[] b = v.toByteArray();
        int n = Math.min(b.length, size);
        System.arraycopy(b, b.length - n, out, offset + size - n, n);
    }

    private static String abbreviate(String s) {
        String clean = s.replaceAll("[^\\x20-\\x7e]", "?");
        return clean.length() > 40 ? clean.substring(0, 40) + "…" : clean;
    }

    private static final class Reader {
        private final ByteBuffer buf;

        Reader(byte[] data) {
            this.buf = ByteBuffer.wrap(data);
        }

        byte[] bytes() {
            int len = buf.getInt();
            if (len < 0 || len > buf.remaining()) throw new InvalidKeyException("the key data is truncated");
            byte[] b = new byte[len];
            buf.get(b);
            return b;
        }

        String string() {
            return new String(bytes(), StandardCharsets.US_ASCII);
        }

        BigInteger mpint() {
            return new BigInteger(bytes());
        }

        int remaining() {
            return buf.remaining();
        }
    }

    private static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        void bytes(byte[] b) {
            out.writeBytes(ByteBuffer.allocate(4).putInt(b.length).array());
            out.writeBytes(b);
        }

        void string(String s) {
            bytes(s.getBytes(StandardCharsets.US_ASCII));
        }

        /** Two's complement, minimal: BigInteger.toByteArray is exactly SSH's mpint. */
        void mpint(BigInteger v) {
            bytes(v.signum() == 0 ? new byte[0] : v.toByteArray());
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }
    }
}
