package dev.burrow.server.proxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * Certificates of the preview proxy's HTTPS listener: a default certificate and per-domain ones read from a
 * directory ({@code <domain>.crt} + {@code <domain>.key}; a wildcard as {@code *.<parent>.crt}), chosen by the name
 * the client sends in SNI (exact name first, then the wildcard of its parent, then the default). PEM files; keys in
 * PKCS#8 ({@code BEGIN PRIVATE KEY}) or, for RSA, PKCS#1 ({@code BEGIN RSA PRIVATE KEY}); encrypted keys are refused.
 */
public final class PreviewTls {
    static final String DEFAULT_ALIAS = "#default";
    private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z ]+)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");

    record Entry(X509Certificate[] chain, PrivateKey key) { }

    private final Map<String, Entry> entries;

    private PreviewTls(Map<String, Entry> entries) {
        this.entries = entries;
    }

    /** Loads the default pair (either may be null when {@code dir} is given) and every pair in {@code dir}. */
    public static PreviewTls load(Path cert, Path key, Path dir) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        if (cert != null) entries.put(DEFAULT_ALIAS, pair(cert, key));
        if (dir != null) {
            if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--preview-tls-dir is not a directory: " + dir);
            try (var files = Files.list(dir)) {
                for (Path crt : files.filter(p -> p.getFileName().toString().endsWith(".crt")).sorted().toList()) {
                    String name = crt.getFileName().toString();
                    String domain = name.substring(0, name.length() - 4).toLowerCase(Locale.ROOT);
                    Path k = crt.resolveSibling(name.substring(0, name.length() - 4) + ".key");
                    if (!Files.exists(k)) throw new IllegalArgumentException("certificate " + crt + " has no key file " + k.getFileName());
                    entries.put(domain, pair(crt, k));
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read --preview-tls-dir " + dir + ": " + e.getMessage(), e);
            }
        }
        if (entries.isEmpty()) throw new IllegalArgumentException("no TLS certificate for the preview proxy (" + dir + " holds no .crt files)");
        return new PreviewTls(Map.copyOf(entries));
    }

    /** The domains with a certificate of their own (the default one excluded). */
    public List<String> domains() {
        return entries.keySet().stream().filter(d -> !d.equals(DEFAULT_ALIAS)).sorted().toList();
    }

    public SSLContext context() {
        try {
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(new javax.net.ssl.KeyManager[] {new SniKeyManager()}, null, null);
            return ctx;
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up TLS: " + e.getMessage(), e);
        }
    }

    /** The alias for a requested server name and key type, or null. */
    String alias(String serverName, String keyType) {
        if (serverName != null) {
            String name = serverName.toLowerCase(Locale.ROOT);
            if (fits(name, keyType)) return name;
            int dot = name.indexOf('.');
            if (dot > 0 && fits("*" + name.substring(dot), keyType)) return "*" + name.substring(dot);
        }
        return fits(DEFAULT_ALIAS, keyType) ? DEFAULT_ALIAS : null;
    }

    private boolean fits(String alias, String keyType) {
        Entry e = entries.get(alias);
        if (e == null) return false;
        String alg = e.key().getAlgorithm();
        return keyType == null || keyType.equalsIgnoreCase(alg) || ("EdDSA".equalsIgnoreCase(keyType) && alg.startsWith("Ed"));
    }

    private static Entry pair(Path cert, Path key) {
        if (cert == null || key == null) throw new IllegalArgumentException("a TLS certificate needs both its certificate and key file");
        X509Certificate[] chain;
        try (var in = Files.newInputStream(cert)) {
            chain = CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
                    .map(c -> (X509Certificate) c).toArray(X509Certificate[]::new);
        } catch (IOException | CertificateException e) {
            throw new IllegalArgumentException("cannot read certificate " + cert + ": " + e.getMessage(), e);
        }
        if (chain.length == 0) throw new IllegalArgumentException("no certificate in " + cert);
        PrivateKey pk = privateKey(key, chain[0].getPublicKey().getAlgorithm());
        return new Entry(chain, pk);
    }

    static PrivateKey privateKey(Path file, String algorithm) {
        String pem;
        try {
            pem = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read key " + file + ": " + e.getMessage(), e);
        }
        Matcher m = PEM.matcher(pem);
        while (m.find()) {
            String type = m.group(1);
            if (!type.endsWith("PRIVATE KEY")) continue;
            byte[] der = Base64.getMimeDecoder().decode(m.group(2));
            if (type.equals("RSA PRIVATE KEY")) {
                der = rsaPkcs1ToPkcs8(der);
            } else if (!type.equals("PRIVATE KEY")) {
                throw new IllegalArgumentException("key " + file + " is a '" + type + "'; give an unencrypted PKCS#8 key "
                        + "(openssl pkcs8 -topk8 -nocrypt -in old.key -out new.key)");
            }
            try {
                String alg = algorithm.equals("EdDSA") || algorithm.startsWith("Ed") ? "EdDSA" : algorithm;
                return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (java.security.NoSuchAlgorithmException | InvalidKeySpecException e) {
                throw new IllegalArgumentException("key " + file + " is not a " + algorithm + " key matching its certificate: "
                        + e.getMessage(), e);
            }
        }
        throw new IllegalArgumentException("no PEM private key in " + file);
    }

    /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, the key as an octet string). */
    private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
        byte[] algId = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {0x02, 0x01, 0x00});
        body.writeBytes(algId);
        body.writeBytes(derHeader(0x04, pkcs1.length));
        body.writeBytes(pkcs1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(derHeader(0x30, body.size()));
        out.writeBytes(body.toByteArray());
        return out.toByteArray();
    }

    private static byte[] derHeader(int tag, int length) {
        if (length < 0x80) return new byte[] {(byte) tag, (byte) length};
        int bytes = length > 0xffffff ? 4 : length > 0xffff ? 3 : length > 0xff ? 2 : 1;
        byte[] h = new byte[2 + bytes];
        h[0] = (byte) tag;
        h[1] = (byte) (0x80 | bytes);
        for (int i = 0; i < bytes; i++) h[2 + i] = (byte) (length >>> (8 * (bytes - 1 - i)));
        return h;
    }

    private static String sniName(SSLSession handshake) {
        if (!(handshake instanceof ExtendedSSLSession ext)) return null;
        for (SNIServerName n : ext.getRequestedServerNames()) {
            if (n instanceof SNIHostName h) return h.getAsciiName();
        }
        return null;
    }

    private final class SniKeyManager extends X509ExtendedKeyManager {
        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            String name = socket instanceof SSLSocket s ? sniName(s.getHandshakeSession()) : null;
            return alias(name, keyType);
        }

        @Override
        public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
            return alias(engine == null ? null : sniName(engine.getHandshakeSession()), keyType);
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            Entry e = entries.get(alias);
            return e == null ? null : e.chain().clone();
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            Entry e = entries.get(alias);
            return e == null ? null : e.key();
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return entries.keySet().stream().filter(a -> fits(a, keyType)).toArray(String[]::new);
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return null;
        }

        @Override
        public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
            return null;
        }
    }
}
