package dev.burrow.server.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.access.AccessDecision;
import dev.burrow.core.access.Identities;
import dev.burrow.core.access.Identity;
import dev.burrow.core.access.SshPublicKeys;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;
import dev.burrow.store.Database;
import dev.burrow.store.SqlIdentityStore;
import dev.burrow.store.SqlVmStore;

/**
 * The access decision over the real SQLite store with a clock the test moves: expiry, revocation, permissions,
 * allowed users, deleted VMs and keys.
 */
class IdentitiesTest {
    static final Instant T0 = Instant.parse("2026-03-01T12:00:00Z");

    /** A clock the test sets; {@link Identities} reads it on every check. */
    static final class MovableClock extends Clock {
        volatile Instant now = T0;

        @Override public Instant instant() { return now; }
        @Override public java.time.ZoneId getZone() { return ZoneOffset.UTC; }
        @Override public Clock withZone(java.time.ZoneId zone) { return this; }

        void advance(Duration d) { now = now.plus(d); }
    }

    @TempDir
    Path dir;
    Database db;
    SqlVmStore vms;
    MovableClock clock = new MovableClock();
    Identities identities;
    String vmId;

    @BeforeEach
    void open() {
        db = Database.open("jdbc:sqlite:" + dir.resolve("b.db"), null, null);
        vms = new SqlVmStore(db);
        identities = new Identities(new SqlIdentityStore(db), vms, clock);
        vmId = insertVm(VmStatus.RUNNING);
    }

    @AfterEach
    void close() {
        db.close();
    }

    String insertVm(VmStatus status) {
        var spec = new VmSpec("builtin:busybox", 1, 256, Map.of(), "/", 60, Persistence.DEFAULT, Map.of(), null, null);
        Vm vm = new Vm(VmId.generate(), spec, status, null, T0, T0, T0, "n1", "runc", null, 0);
        vms.insert(vm, VmEvent.of(vm.id(), T0, null, status, "test", "test", null, null));
        return vm.id();
    }

    @Test
    void aTokenWorksUntilItExpiresAndNotAMillisecondLonger() {
        Identity i = identities.create();
        identities.grant(i.id(), vmId, null, "admin");
        var issued = identities.issueToken(i.id(), 60L, null);
        assertThat(issued.token().expiresAt()).isEqualTo(T0.plusSeconds(60));

        assertThat(identities.checkToken(vmId, issued.secret(), "root"))
                .isEqualTo(new AccessDecision.Granted(i.id(), issued.token().id()));
        clock.advance(Duration.ofSeconds(60).minusMillis(1));
        assertThat(identities.checkToken(vmId, issued.secret(), "root").granted()).isTrue();
        clock.advance(Duration.ofMillis(1));
        assertThat(identities.checkToken(vmId, issued.secret(), "root"))
                .isInstanceOfSatisfying(AccessDecision.Denied.class, d -> assertThat(d.reason()).contains("expired"));
    }

    @Test
    void anExplicitExpiryTimeIsKeptAndOneInThePastIsRefused() {
        Identity i = identities.create();
        identities.grant(i.id(), vmId, null, "admin");
        var issued = identities.issueToken(i.id(), null, T0.plus(Duration.ofDays(2)));
        assertThat(issued.token().expiresAt()).isEqualTo(T0.plus(Duration.ofDays(2)));
        clock.advance(Duration.ofDays(2));
        assertThat(identities.checkToken(vmId, issued.secret(), "root").granted()).isFalse();

        assertThatThrownBy(() -> identities.issueToken(i.id(), null, clock.instant().minusSeconds(1)))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_EXPIRY"));
        assertThatThrownBy(() -> identities.issueToken(i.id(), 0L, null))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_EXPIRY"));
        assertThatThrownBy(() -> identities.issueToken(i.id(), 5L, clock.instant().plusSeconds(60)))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_EXPIRY"));
    }

    @Test
    void aRevokedTokenIsRefusedAtOnceAndOtherTokensKeepWorking() {
        Identity i = identities.create();
        identities.grant(i.id(), vmId, null, "admin");
        var a = identities.issueToken(i.id(), null, null);
        var b = identities.issueToken(i.id(), null, null);
        assertThat(a.token().expiresAt()).isNull();
        clock.advance(Duration.ofDays(3650)); // no expiry means none
        assertThat(identities.checkToken(vmId, a.secret(), "root").granted()).isTrue();

        identities.revokeToken(i.id(), a.token().id());
        assertThat(identities.checkToken(vmId, a.secret(), "root"))
                .isInstanceOfSatisfying(AccessDecision.Denied.class, d -> assertThat(d.reason()).contains("revoked"));
        assertThat(identities.checkToken(vmId, b.secret(), "root").granted()).isTrue();
        assertThatThrownBy(() -> identities.revokeToken(i.id(), a.token().id()))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("TOKEN_NOT_FOUND"));
        assertThat(identities.tokens(i.id())).extracting(t -> t.id()).containsExactly(b.token().id());
    }

    @Test
    void tokensAreUrlSafeUniqueAndStoredOnlyAsHashes() {
        Identity i = identities.create();
        var a = identities.issueToken(i.id(), null, null);
        var b = identities.issueToken(i.id(), null, null);
        assertThat(a.secret()).matches("bt_[A-Za-z0-9_-]{43}").doesNotContain(":", "+", "@", "/", "=");
        assertThat(a.secret()).isNotEqualTo(b.secret());
        assertThat(Base64.getUrlDecoder().decode(a.secret().substring(3))).hasSize(32);
        assertThat(a.token().sha256()).isEqualTo(Identities.sha256Hex(a.secret())).doesNotContain(a.secret().substring(3));
    }

    @Test
    void permissionsDecideWhoMayEnterWhichVmAsWhichUser() {
        Identity i = identities.create();
        Identity stranger = identities.create();
        var token = identities.issueToken(i.id(), null, null).secret();
        var strangerToken = identities.issueToken(stranger.id(), null, null).secret();
        String otherVm = insertVm(VmStatus.RUNNING);

        assertThat(identities.checkToken(vmId, token, "root").granted()).as("no permission yet").isFalse();
        identities.grant(i.id(), vmId, List.of("dev", "ci"), "admin");
        assertThat(identities.checkToken(vmId, token, "dev").granted()).isTrue();
        assertThat(identities.checkToken(vmId, token, "ci").granted()).isTrue();
        assertThat(identities.checkToken(vmId, token, "root").granted()).as("not an allowed user").isFalse();
        assertThat(identities.checkToken(otherVm, token, "dev").granted()).as("another VM").isFalse();
        assertThat(identities.checkToken(vmId, strangerToken, "dev").granted()).as("another identity").isFalse();

        identities.updatePermission(i.id(), vmId, List.of());
        assertThat(identities.checkToken(vmId, token, "dev").granted()).as("empty list: nobody").isFalse();
        identities.updatePermission(i.id(), vmId, null);
        assertThat(identities.checkToken(vmId, token, "anyone").granted()).as("null: any user").isTrue();

        identities.revokePermission(i.id(), vmId);
        assertThat(identities.checkToken(vmId, token, "root").granted()).isFalse();
    }

    @Test
    void malformedUnknownAndForeignTokensAreDenied() {
        Identity i = identities.create();
        identities.grant(i.id(), vmId, null, "admin");
        String real = identities.issueToken(i.id(), null, null).secret();
        String unknown = "bt_" + "A".repeat(43);
        for (String t : new String[] {null, "", "bt_", real + "x", real.substring(0, real.length() - 1), unknown,
                                      "bk_" + real.substring(3), real.toUpperCase()}) {
            assertThat(identities.checkToken(vmId, t, "root").granted()).as(String.valueOf(t)).isFalse();
        }
        assertThat(identities.checkToken(vmId, real, "root").granted()).isTrue();
    }

    @Test
    void aPermissionOnADeletedVmIsDeadAndDroppedByTheListener() {
        Identity i = identities.create();
        identities.grant(i.id(), vmId, null, "admin");
        String token = identities.issueToken(i.id(), null, null).secret();
        Vm vm = vms.find(vmId).orElseThrow();
        Vm deleted = vms.update(vm.withStatus(VmStatus.DELETED, null, T0), VmEvent.of(vmId, T0, VmStatus.RUNNING,
                VmStatus.DELETED, "delete", "test", null, 1L)).orElseThrow();
        // dead before the listener ran: the row alone grants nothing
        assertThat(identities.checkToken(vmId, token, "root"))
                .isInstanceOfSatisfying(AccessDecision.Denied.class, d -> assertThat(d.reason()).contains("gone"));
        identities.vmDeletionListener().transitioned(deleted, VmStatus.DELETING, "delete", "test", 1L, null);
        assertThat(identities.permissions(i.id(), 10, 0).total()).isZero();
        assertThatThrownBy(() -> identities.grant(i.id(), vmId, null, "admin"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_FOUND"));
    }

    @Test
    void aRegisteredKeyGrantsWhatItsIdentityMayAndNothingElse() throws Exception {
        Identity i = identities.create();
        PublicKey key = KeyPairGenerator.getInstance("Ed25519").generateKeyPair().getPublic();
        PublicKey unregistered = KeyPairGenerator.getInstance("Ed25519").generateKeyPair().getPublic();
        String line = "ssh-ed25519 " + Base64.getEncoder().encodeToString(SshPublicKeys.encode(key)) + " me@laptop";
        var registered = identities.addSshKey(i.id(), line);
        assertThat(registered.fingerprint()).isEqualTo(SshPublicKeys.fingerprint(key));
        assertThat(registered.comment()).isEqualTo("me@laptop");

        assertThat(identities.checkPublicKey(vmId, key, "root").granted()).as("no permission yet").isFalse();
        identities.grant(i.id(), vmId, List.of("dev"), "admin");
        assertThat(identities.checkPublicKey(vmId, key, "dev")).isEqualTo(new AccessDecision.Granted(i.id(), null));
        assertThat(identities.checkPublicKey(vmId, key, "root").granted()).isFalse();
        assertThat(identities.checkPublicKey(vmId, unregistered, "dev").granted()).isFalse();

        Identity other = identities.create();
        assertThatThrownBy(() -> identities.addSshKey(other.id(), line))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SSH_KEY_IN_USE"));
        identities.deleteSshKey(i.id(), registered.id());
        assertThat(identities.checkPublicKey(vmId, key, "dev").granted()).isFalse();
    }

    @Test
    void deletingAnIdentityEndsItsAccess() {
        Identity i = identities.create();
        identities.grant(i.id(), vmId, null, "admin");
        String token = identities.issueToken(i.id(), null, null).secret();
        identities.delete(i.id());
        assertThat(identities.checkToken(vmId, token, "root").granted()).isFalse();
        assertThatThrownBy(() -> identities.delete(i.id()))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("IDENTITY_NOT_FOUND"));
    }
}
