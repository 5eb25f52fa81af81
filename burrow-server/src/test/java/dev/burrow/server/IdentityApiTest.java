package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.access.SshPublicKeys;
import dev.burrow.core.testing.HostRequirements;

/** The {@code /identity/v1} routes over a real server: shapes the SDK reads, errors, auth, and the access they grant. */
class IdentityApiTest {
    static TestServer srv;
    static String vmId;
    static final String IDS = "/identity/v1/identities";

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
        vmId = srv.createVm("{}");
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    static String newIdentity() {
        TestServer.Response r = srv.post(IDS, null);
        assertThat(r.status()).as(r.toString()).isEqualTo(200);
        return r.json().get("id").asText();
    }

    static void assertError(TestServer.Response r, int status, String code) {
        BadInputTest.assertError(r, status, code);
    }

    @Test
    void theSdkSshFlowGrantsAccessUntilTheTokenIsRevoked() {
        TestServer.Response created = srv.post(IDS, null);
        assertThat(created.status()).isEqualTo(200);
        assertThat(created.json().get("managed").asBoolean()).isFalse();
        String id = created.json().get("id").asText();

        // grant as the SDK sends it: {allowedUsers: undefined} serializes to {}
        TestServer.Response granted = srv.post(IDS + "/" + id + "/permissions/vm/" + vmId, "{}");
        assertThat(granted.status()).as(granted.toString()).isEqualTo(200);
        JsonNode p = granted.json();
        assertThat(p.get("vmId").asText()).isEqualTo(vmId);
        assertThat(p.get("identityId").asText()).isEqualTo(id);
        assertThat(p.has("allowedUsers")).isTrue();
        assertThat(p.get("allowedUsers").isNull()).isTrue();
        assertThat(p.get("grantedBy").asText()).isEqualTo("admin");
        assertThat(Instant.parse(p.get("grantedAt").asText())).isBeforeOrEqualTo(Instant.now());

        // the SDK posts no body at all for a token
        TestServer.Response tok = srv.call("POST", IDS + "/" + id + "/tokens", null);
        assertThat(tok.status()).as(tok.toString()).isEqualTo(200);
        String token = tok.json().get("token").asText();
        String tokenId = tok.json().get("id").asText();
        assertThat(token).matches("bt_[A-Za-z0-9_-]{43}");
        assertThat(tok.json().get("expiresAt").isNull()).isTrue();

        var access = srv.server.vmAccess();
        assertThat(access.checkToken(vmId, token, "root").granted()).isTrue();
        assertThat(srv.get(IDS + "/" + id + "/tokens").json().get("tokens").get(0).get("id").asText()).isEqualTo(tokenId);
        // the secret is shown once: no list or get returns it
        assertThat(srv.get(IDS + "/" + id + "/tokens").body()).doesNotContain(token.substring(3));

        TestServer.Response revoked = srv.delete(IDS + "/" + id + "/tokens/" + tokenId);
        assertThat(revoked.status()).isEqualTo(200);
        assertThat(revoked.body()).isEqualTo("{}");
        assertThat(access.checkToken(vmId, token, "root").granted()).isFalse();
        assertThat(srv.get(IDS + "/" + id + "/tokens").json().get("tokens")).isEmpty();
        assertError(srv.delete(IDS + "/" + id + "/tokens/" + tokenId), 404, "TOKEN_NOT_FOUND");

        TestServer.Response deleted = srv.delete(IDS + "/" + id);
        assertThat(deleted.status()).isEqualTo(200);
        assertThat(deleted.body()).isEqualTo("{}");
        assertError(srv.delete(IDS + "/" + id), 404, "IDENTITY_NOT_FOUND");
        assertError(srv.get(IDS + "/" + id + "/permissions/vm"), 404, "IDENTITY_NOT_FOUND");
    }

    @Test
    void permissionsCanBeReadChangedListedAndRevoked() {
        String id = newIdentity();
        String base = IDS + "/" + id + "/permissions/vm";
        assertError(srv.get(base + "/" + vmId), 404, "VM_PERMISSION_NOT_FOUND");
        assertError(srv.put(base + "/" + vmId, "{\"allowedUsers\":[\"dev\"]}"), 404, "VM_PERMISSION_NOT_FOUND");
        assertError(srv.delete(base + "/" + vmId), 404, "VM_PERMISSION_NOT_FOUND");

        String permissionId = srv.post(base + "/" + vmId, "{\"allowedUsers\":[\"root\",\"dev\",\"root\"]}").json()
                .get("id").asText();
        JsonNode got = srv.get(base + "/" + vmId).json();
        assertThat(got.get("id").asText()).isEqualTo(permissionId);
        assertThat(got.get("allowedUsers").toString()).isEqualTo("[\"root\",\"dev\"]");

        JsonNode updated = srv.put(base + "/" + vmId, "{\"allowedUsers\":[\"ci\"]}").json();
        assertThat(updated.get("id").asText()).isEqualTo(permissionId);
        assertThat(updated.get("allowedUsers").toString()).isEqualTo("[\"ci\"]");
        // granting again keeps the permission, with the new users
        JsonNode regranted = srv.post(base + "/" + vmId, "{\"allowedUsers\":null}").json();
        assertThat(regranted.get("id").asText()).isEqualTo(permissionId);
        assertThat(regranted.get("allowedUsers").isNull()).isTrue();

        JsonNode list = srv.get(base).json();
        assertThat(list.get("total").asInt()).isEqualTo(1);
        assertThat(list.get("offset").asInt()).isZero();
        assertThat(list.get("permissions").get(0).get("vmId").asText()).isEqualTo(vmId);
        assertThat(srv.get(base + "?offset=1").json().get("permissions")).isEmpty();
        assertThat(srv.get(base + "?offset=1").json().get("total").asInt()).isEqualTo(1);

        TestServer.Response revoked = srv.delete(base + "/" + vmId);
        assertThat(revoked.status()).isEqualTo(200);
        assertThat(revoked.body()).isEqualTo("{}");
        assertError(srv.get(base + "/" + vmId), 404, "VM_PERMISSION_NOT_FOUND");
    }

    @Test
    void identitiesListWithOffsetAndTotal() {
        List<String> mine = new ArrayList<>();
        for (int i = 0; i < 3; i++) mine.add(newIdentity());
        JsonNode all = srv.get(IDS + "?limit=1000").json();
        int total = all.get("total").asInt();
        assertThat(total).isGreaterThanOrEqualTo(3);
        List<String> ids = new ArrayList<>();
        all.get("identities").forEach(n -> {
            ids.add(n.get("id").asText());
            assertThat(n.get("managed").asBoolean()).isFalse();
        });
        assertThat(ids).containsAll(mine).hasSize(total).doesNotHaveDuplicates();
        JsonNode page = srv.get(IDS + "?limit=2&offset=" + (total - 2)).json();
        assertThat(page.get("offset").asInt()).isEqualTo(total - 2);
        assertThat(page.get("total").asInt()).isEqualTo(total);
        assertThat(page.get("identities")).hasSize(2);
        assertThat(page.get("identities").get(1).get("id").asText()).isEqualTo(ids.get(total - 1));
        assertThat(srv.get(IDS + "?includeManaged=true").json().get("total").asInt()).isEqualTo(total);
    }

    @Test
    void tokensMayCarryAnExpiry() {
        String id = newIdentity();
        TestServer.Response r = srv.post(IDS + "/" + id + "/tokens", "{\"expiresInSeconds\":3600}");
        assertThat(r.status()).as(r.toString()).isEqualTo(200);
        Instant created = Instant.parse(r.json().get("createdAt").asText());
        assertThat(Instant.parse(r.json().get("expiresAt").asText())).isEqualTo(created.plusSeconds(3600));
        Instant at = Instant.now().plusSeconds(86_400).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        TestServer.Response r2 = srv.post(IDS + "/" + id + "/tokens", "{\"expiresAt\":\"" + at + "\"}");
        assertThat(Instant.parse(r2.json().get("expiresAt").asText())).isEqualTo(at);
        JsonNode tokens = srv.get(IDS + "/" + id + "/tokens").json().get("tokens");
        assertThat(tokens).hasSize(2);
        assertThat(tokens.get(0).get("expired").asBoolean()).isFalse();
    }

    @Test
    void deletingAVmDropsThePermissionsOnIt() {
        String vm = srv.createVm("{}");
        String id = newIdentity();
        assertThat(srv.post(IDS + "/" + id + "/permissions/vm/" + vm, "{}").status()).isEqualTo(200);
        String token = srv.post(IDS + "/" + id + "/tokens", null).json().get("token").asText();
        assertThat(srv.server.vmAccess().checkToken(vm, token, "root").granted()).isTrue();
        assertThat(srv.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        assertThat(srv.server.vmAccess().checkToken(vm, token, "root").granted()).isFalse();
        assertError(srv.get(IDS + "/" + id + "/permissions/vm/" + vm), 404, "VM_PERMISSION_NOT_FOUND");
        assertError(srv.post(IDS + "/" + id + "/permissions/vm/" + vm, "{}"), 404, "VM_NOT_FOUND");
    }

    @Test
    void sshKeysFromSshKeygenRegisterWithTheirFingerprintAndLetTheirIdentityIn(@TempDir Path dir) throws Exception {
        HostRequirements.requireCommand("ssh-keygen");
        String id = newIdentity();
        String base = IDS + "/" + id + "/ssh-keys";
        assertThat(srv.post(IDS + "/" + id + "/permissions/vm/" + vmId, "{\"allowedUsers\":[\"dev\"]}").status())
                .isEqualTo(200);
        List<String> keyIds = new ArrayList<>();
        for (String[] t : new String[][] {{"ed25519", null}, {"rsa", "3072"}, {"ecdsa", "256"}, {"ecdsa", "521"}}) {
            Path key = dir.resolve("id_" + t[0] + (t[1] == null ? "" : t[1]));
            List<String> cmd = new ArrayList<>(List.of("ssh-keygen", "-q", "-t", t[0], "-N", "", "-C", "me@laptop",
                    "-f", key.toString()));
            if (t[1] != null) cmd.addAll(List.of("-b", t[1]));
            run(cmd);
            Path pub = Path.of(key + ".pub");
            String line = Files.readString(pub).strip();
            String expected = run(List.of("ssh-keygen", "-l", "-E", "sha256", "-f", pub.toString())).split(" ")[1];

            TestServer.Response r = srv.post(base, Json.object("publicKey", line));
            assertThat(r.status()).as(r.toString()).isEqualTo(200);
            assertThat(r.json().get("fingerprint").asText()).isEqualTo(expected);
            assertThat(r.json().get("comment").asText()).isEqualTo("me@laptop");
            assertThat(line).startsWith(r.json().get("publicKey").asText());
            keyIds.add(r.json().get("id").asText());

            // the key object an SSH server would hold for this client
            PublicKey presented = SshPublicKeys.parse(line).key();
            assertThat(srv.server.vmAccess().checkPublicKey(vmId, presented, "dev").granted()).as(t[0]).isTrue();
            assertThat(srv.server.vmAccess().checkPublicKey(vmId, presented, "root").granted()).isFalse();
            assertError(srv.post(base, Json.object("publicKey", line)), 409, "SSH_KEY_IN_USE");
        }
        JsonNode list = srv.get(base).json().get("sshKeys");
        assertThat(list).hasSize(4);
        TestServer.Response removed = srv.delete(base + "/" + keyIds.get(0));
        assertThat(removed.status()).isEqualTo(200);
        assertThat(removed.body()).isEqualTo("{}");
        assertThat(srv.get(base).json().get("sshKeys")).hasSize(3);
        assertError(srv.delete(base + "/" + keyIds.get(0)), 404, "SSH_KEY_NOT_FOUND");
    }

    @Test
    void aJdkKeyRegisteredByItsOpenSshLineIsRecognisedAsTheSameKeyObject() throws Exception {
        String id = newIdentity();
        srv.post(IDS + "/" + id + "/permissions/vm/" + vmId, "{}");
        PublicKey key = KeyPairGenerator.getInstance("Ed25519").generateKeyPair().getPublic();
        String line = "ssh-ed25519 " + java.util.Base64.getEncoder().encodeToString(SshPublicKeys.encode(key));
        assertThat(srv.post(IDS + "/" + id + "/ssh-keys", Json.object("publicKey", line)).status()).isEqualTo(200);
        var decision = srv.server.vmAccess().checkPublicKey(vmId, key, "root");
        assertThat(decision).isEqualTo(new dev.burrow.core.access.AccessDecision.Granted(id, null));
    }

    @ParameterizedTest(name = "{0} {1} {2} -> {3} {4}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "POST   | /permissions/vm/VM                 | {not json                       | 400 | BAD_REQUEST",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":\"root\"}     | 400 | BAD_REQUEST",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":[1]}          | 400 | BAD_REQUEST",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":[null]}       | 400 | INVALID_LINUX_USER",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":[\"a:b\"]}    | 400 | INVALID_LINUX_USER",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":[\"a+b\"]}    | 400 | INVALID_LINUX_USER",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":[\"\"]}       | 400 | INVALID_LINUX_USER",
            "POST   | /permissions/vm/VM                 | {\"allowedUsers\":[\"-rf\"]}    | 400 | INVALID_LINUX_USER",
            "POST   | /permissions/vm/aaaaaaaaaaaaaaaaaaaa | {}                            | 404 | VM_NOT_FOUND",
            "POST   | /permissions/vm/not-a-vm           | {}                              | 400 | INVALID_VM_ID",
            "PUT    | /permissions/vm/VM                 |                                 | 400 | BAD_REQUEST",
            "GET    | /permissions/vm?limit=0            |                                 | 400 | BAD_REQUEST",
            "GET    | /permissions/vm?limit=abc          |                                 | 400 | BAD_REQUEST",
            "GET    | /permissions/vm?offset=-1          |                                 | 400 | BAD_REQUEST",
            "POST   | /tokens                            | {\"expiresInSeconds\":-5}       | 400 | INVALID_EXPIRY",
            "POST   | /tokens                            | {\"expiresInSeconds\":\"60\"}   | 400 | BAD_REQUEST",
            "POST   | /tokens                            | {\"expiresInSeconds\":1.5}      | 400 | BAD_REQUEST",
            "POST   | /tokens                            | {\"expiresAt\":\"tomorrow\"}    | 400 | INVALID_EXPIRY",
            "POST   | /tokens                            | {\"expiresAt\":17}            | 400 | BAD_REQUEST",
            "POST   | /tokens                            | {\"expiresAt\":\"2001-01-01T00:00:00Z\"} | 400 | INVALID_EXPIRY",
            "POST   | /tokens                            | {\"expiresInSeconds\":60,\"expiresAt\":\"2999-01-01T00:00:00Z\"} | 400 | INVALID_EXPIRY",
            "POST   | /tokens                            | [1]                             | 400 | BAD_REQUEST",
            "DELETE | /tokens/no-such-token              |                                 | 404 | TOKEN_NOT_FOUND",
            "POST   | /ssh-keys                          |                                 | 400 | BAD_REQUEST",
            "POST   | /ssh-keys                          | {}                              | 400 | INVALID_PUBLIC_KEY",
            "POST   | /ssh-keys                          | {\"publicKey\":7}               | 400 | BAD_REQUEST",
            "POST   | /ssh-keys                          | {\"publicKey\":\"hello\"}       | 400 | INVALID_PUBLIC_KEY",
            "POST   | /ssh-keys                          | {\"publicKey\":\"ssh-dss AAAAB3NzaC1kc3MAAACBAP\"} | 400 | INVALID_PUBLIC_KEY",
            "POST   | /ssh-keys                          | {\"publicKey\":\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\"} | 400 | INVALID_PUBLIC_KEY",
            "DELETE | /ssh-keys/nope                     |                                 | 404 | SSH_KEY_NOT_FOUND",
    })
    void badInputIsAClientErrorThatChangesNothing(String method, String path, String body, int status, String code) {
        String id = newIdentity();
        TestServer.Response r = srv.call(method, IDS + "/" + id + path.replace("/VM", "/" + vmId), body);
        assertError(r, status, code);
        JsonNode perms = srv.get(IDS + "/" + id + "/permissions/vm").json();
        assertThat(perms.get("total").asInt()).isZero();
        assertThat(srv.get(IDS + "/" + id + "/tokens").json().get("tokens")).isEmpty();
        assertThat(srv.get(IDS + "/" + id + "/ssh-keys").json().get("sshKeys")).isEmpty();
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "GET, ''", "DELETE, /ID", "GET, /ID/permissions/vm", "GET, /ID/permissions/vm/VM", "POST, /ID/permissions/vm/VM",
            "PUT, /ID/permissions/vm/VM", "DELETE, /ID/permissions/vm/VM", "GET, /ID/tokens", "POST, /ID/tokens",
            "DELETE, /ID/tokens/x", "GET, /ID/ssh-keys", "POST, /ID/ssh-keys", "DELETE, /ID/ssh-keys/x"})
    void unknownIdentitiesAreNotFoundOnEveryRoute(String method, String path) {
        if (path.isEmpty()) {
            assertThat(srv.get(IDS).status()).isEqualTo(200);
            assertError(srv.get(IDS + "?includeManaged=maybe"), 400, "BAD_REQUEST");
            return;
        }
        String body = method.equals("GET") || method.equals("DELETE") ? null
                : path.endsWith("ssh-keys") ? "{\"publicKey\":\"ssh-ed25519 x\"}" : "{}";
        TestServer.Response r = srv.call(method, IDS + path.replace("/ID", "/00000000-0000-0000-0000-000000000000")
                .replace("/VM", "/" + vmId), body);
        assertError(r, 404, "IDENTITY_NOT_FOUND");
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "GET, ''", "POST, ''", "DELETE, /ID", "GET, /ID/permissions/vm", "GET, /ID/permissions/vm/VM",
            "POST, /ID/permissions/vm/VM", "PUT, /ID/permissions/vm/VM", "DELETE, /ID/permissions/vm/VM",
            "GET, /ID/tokens", "POST, /ID/tokens", "DELETE, /ID/tokens/x", "GET, /ID/ssh-keys", "POST, /ID/ssh-keys",
            "DELETE, /ID/ssh-keys/x"})
    void everyIdentityRouteNeedsTheApiKey(String method, String path) {
        String id = newIdentity();
        int before = srv.get(IDS + "?limit=1000").json().get("total").asInt();
        String url = IDS + path.replace("/ID", "/" + id).replace("/VM", "/" + vmId);
        for (String key : new String[] {null, "wrong-key"}) {
            assertError(srv.call(method, url, method.equals("GET") || method.equals("DELETE") ? null : "{}", key),
                    401, "UNAUTHORIZED");
        }
        assertThat(srv.get(IDS + "?limit=1000").json().get("total").asInt()).isEqualTo(before);
        assertThat(srv.get(IDS + "/" + id + "/permissions/vm").json().get("total").asInt()).isZero();
    }

    private static String run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(cmd + ": " + out).isZero();
        return out;
    }

    /** Bodies built with the server's mapper, so keys with spaces and '+' stay valid JSON. */
    static final class Json {
        static String object(String field, String value) {
            try {
                return dev.burrow.server.http.Json.MAPPER.writeValueAsString(java.util.Map.of(field, value));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new AssertionError(e);
            }
        }
    }
}
