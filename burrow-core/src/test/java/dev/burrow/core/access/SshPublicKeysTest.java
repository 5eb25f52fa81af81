package dev.burrow.core.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.burrow.core.testing.HostRequirements;

/** Keys made by the real ssh-keygen parse, and keys the JDK makes encode to what ssh-keygen reads. */
class SshPublicKeysTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "ssh-keygen -t {0} -b {1}")
    @CsvSource({"ed25519,0", "rsa,3072", "ecdsa,256", "ecdsa,384", "ecdsa,521"})
    void keysFromSshKeygenParseWithItsFingerprint(String type, int bits) throws Exception {
        HostRequirements.requireCommand("ssh-keygen");
        Path key = dir.resolve("id_" + type + bits);
        if (bits == 0) {
            run("ssh-keygen", "-q", "-t", type, "-N", "", "-C", "me@laptop with spaces", "-f", key.toString());
        } else {
            run("ssh-keygen", "-q", "-t", type, "-b", String.valueOf(bits), "-N", "", "-C", "me@laptop with spaces",
                    "-f", key.toString());
        }
        String line = Files.readString(key.resolveSibling(key.getFileName() + ".pub"));
        SshPublicKeys.Parsed parsed = SshPublicKeys.parse(line);

        String[] fields = line.strip().split(" ", 3);
        assertThat(parsed.openSsh()).isEqualTo(fields[0] + " " + fields[1]);
        assertThat(parsed.comment()).isEqualTo("me@laptop with spaces");
        String expected = sshKeygenFingerprint(key.resolveSibling(key.getFileName() + ".pub"));
        assertThat(parsed.fingerprint()).isEqualTo(expected);
        // the JDK key object fingerprints the same as the text it came from: what checkPublicKey relies on
        assertThat(SshPublicKeys.fingerprint(parsed.key())).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Ed25519", "EC-secp256r1", "EC-secp384r1", "EC-secp521r1", "RSA-2048"})
    void jdkKeysEncodeAsOpenSshDoes(String kind) throws Exception {
        HostRequirements.requireCommand("ssh-keygen");
        // several keys each: Ed25519's x-sign bit and EC coordinates with leading zero bytes vary by key
        for (int n = 0; n < 8; n++) {
            PublicKey key = generate(kind);
            byte[] ours = SshPublicKeys.encode(key);
            if (kind.equals("Ed25519")) {
                // RFC 8410: the X.509 form ends with the same 32 raw bytes (RFC 8032 encoding) SSH carries;
                // this OpenSSH cannot import Ed25519 from PKCS8, so that is the independent reference here
                byte[] x509 = key.getEncoded();
                byte[] raw = java.util.Arrays.copyOfRange(x509, x509.length - 32, x509.length);
                byte[] expected = ByteBuffer.allocate(4 + 11 + 4 + 32).putInt(11)
                        .put("ssh-ed25519".getBytes(StandardCharsets.US_ASCII)).putInt(32).put(raw).array();
                assertThat(ours).isEqualTo(expected);
            } else {
                // ssh-keygen's own conversion of the JDK's X.509 key is the reference
                Path pem = dir.resolve("k" + n + ".pem");
                Files.writeString(pem, "-----BEGIN PUBLIC KEY-----\n"
                        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(key.getEncoded())
                        + "\n-----END PUBLIC KEY-----\n");
                String converted = run("ssh-keygen", "-i", "-m", "PKCS8", "-f", pem.toString()).strip();
                assertThat(lineOf(key)).isEqualTo(converted);
            }
            assertThat(SshPublicKeys.parse(lineOf(key) + " jdk").fingerprint()).isEqualTo(SshPublicKeys.fingerprint(key));
        }
    }

    @Test
    void aKeyObjectFromAnotherProviderFingerprintsLikeTheJdkOne() throws Exception {
        PublicKey jdk = generate("Ed25519");
        // MINA SSHD 2.x hands out net.i2p EdDSAPublicKey objects: not the JDK's EdECPublicKey, algorithm "EdDSA",
        // X.509-encoded. This stand-in has exactly those properties.
        PublicKey foreign = new PublicKey() {
            @Override public String getAlgorithm() { return "EdDSA"; }
            @Override public String getFormat() { return "X.509"; }
            @Override public byte[] getEncoded() { return jdk.getEncoded(); }
        };
        assertThat(SshPublicKeys.fingerprint(foreign)).isEqualTo(SshPublicKeys.fingerprint(jdk));
    }

    @Test
    void malformedOrUnsupportedKeysAreRefusedWithAReason() throws Exception {
        String ed = lineOf(generate("Ed25519"));
        String edBlob = ed.split(" ")[1];
        byte[] blob = Base64.getDecoder().decode(edBlob);

        assertRefused("", "empty");
        assertRefused("   ", "empty");
        assertRefused("ssh-ed25519", "expected");
        assertRefused("ssh-dss " + edBlob, "unsupported key type");
        assertRefused("ssh-ed25519 !!!notbase64", "base64");
        assertRefused("ssh-rsa " + edBlob, "says ssh-rsa");
        assertRefused(ed + "\nssh-ed25519 " + edBlob, "one line");
        assertRefused("ssh-ed25519 " + b64(java.util.Arrays.copyOf(blob, blob.length - 5)), "truncated");
        byte[] trailing = java.util.Arrays.copyOf(blob, blob.length + 4);
        assertRefused("ssh-ed25519 " + b64(trailing), "trailing");
        assertRefused(lineOf(generate("RSA-1024")), "at least 2048 bits");

        // an ECDSA point moved off the curve
        byte[] ec = Base64.getDecoder().decode(lineOf(generate("EC-secp256r1")).split(" ")[1]);
        ec[ec.length - 1] ^= 1;
        assertRefused("ecdsa-sha2-nistp256 " + b64(ec), "not on the curve");
        // a length field pointing past the end
        byte[] huge = blob.clone();
        ByteBuffer.wrap(huge).putInt(0, 1 << 20);
        assertRefused("ssh-ed25519 " + b64(huge), "truncated");
    }

    private static void assertRefused(String line, String reason) {
        assertThatThrownBy(() -> SshPublicKeys.parse(line)).as(line)
                .isInstanceOf(SshPublicKeys.InvalidKeyException.class).hasMessageContaining(reason);
    }

    static PublicKey generate(String kind) throws Exception {
        if (kind.equals("Ed25519")) return KeyPairGenerator.getInstance("Ed25519").generateKeyPair().getPublic();
        if (kind.startsWith("RSA-")) {
            var g = KeyPairGenerator.getInstance("RSA");
            g.initialize(Integer.parseInt(kind.substring(4)));
            return g.generateKeyPair().getPublic();
        }
        var g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec(kind.substring(3)));
        return g.generateKeyPair().getPublic();
    }

    /** An OpenSSH line for a JDK key, built from the encoder: type name read back from the blob. */
    static String lineOf(PublicKey key) {
        return new String(typeOf(key), StandardCharsets.US_ASCII) + " " + b64(SshPublicKeys.encode(key));
    }

    private static byte[] typeOf(PublicKey key) {
        ByteBuffer b = ByteBuffer.wrap(SshPublicKeys.encode(key));
        byte[] type = new byte[b.getInt()];
        b.get(type);
        return type;
    }

    private static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    private static String sshKeygenFingerprint(Path pub) throws Exception {
        String out = run("ssh-keygen", "-l", "-E", "sha256", "-f", pub.toString());
        return out.split(" ")[1];
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
        return out;
    }
}
