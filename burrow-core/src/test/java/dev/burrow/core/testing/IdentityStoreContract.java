package dev.burrow.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.access.AccessToken;
import dev.burrow.core.access.Identity;
import dev.burrow.core.access.SshKey;
import dev.burrow.core.access.VmPermission;
import dev.burrow.core.store.IdentityStore;
import dev.burrow.core.store.IdentityStore.KeyInsert;

/**
 * The IdentityStore contract for every implementation (the SQL store on each database, the in-memory one of the HTTP test
 * harness); subclasses open a fresh, empty store for each test.
 */
public abstract class IdentityStoreContract {
    protected static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    protected IdentityStore store;

    /** A fresh, empty store for one test. */
    protected abstract IdentityStore openStore() throws Exception;

    /** Releases what {@link #openStore} opened. */
    protected void closeStore() { }

    @BeforeEach
    void openContractStore() throws Exception {
        store = openStore();
    }

    @AfterEach
    void closeContractStore() {
        closeStore();
    }

    protected Identity identity(int secondsAfterT0, boolean managed) {
        var i = new Identity(UUID.randomUUID().toString(), managed, T0.plusSeconds(secondsAfterT0));
        store.insertIdentity(i);
        return i;
    }

    protected static VmPermission permission(Identity i, String vmId, List<String> users, int secondsAfterT0) {
        return new VmPermission(UUID.randomUUID().toString(), i.id(), vmId, users, T0.plusSeconds(secondsAfterT0), "admin");
    }

    protected static AccessToken token(Identity i, String sha, Instant expiresAt) {
        return new AccessToken(UUID.randomUUID().toString(), i.id(), sha, T0, expiresAt, null);
    }

    protected static SshKey key(Identity i, String fingerprint) {
        return new SshKey(UUID.randomUUID().toString(), i.id(), "ssh-ed25519 AAAA" + fingerprint.hashCode(), fingerprint,
                "me@host", T0);
    }

    @Test
    public void identitiesListOldestFirstWithOffsetsTotalsAndTheManagedFilter() {
        Identity b = identity(2, false);
        Identity a = identity(1, false);
        Identity m = identity(3, true);
        Identity c = identity(4, false);
        assertThat(store.findIdentity(a.id())).contains(a);
        assertThat(store.findIdentity(m.id()).orElseThrow().managed()).isTrue();
        assertThat(store.findIdentity("nope")).isEmpty();
        assertThat(store.listIdentities(false, 10, 0)).containsExactly(a, b, c);
        assertThat(store.listIdentities(true, 10, 0)).containsExactly(a, b, m, c);
        assertThat(store.listIdentities(false, 2, 1)).containsExactly(b, c);
        assertThat(store.listIdentities(false, 10, 3)).isEmpty();
        assertThat(store.countIdentities(false)).isEqualTo(3);
        assertThat(store.countIdentities(true)).isEqualTo(4);
    }

    @Test
    public void deletingAnIdentityRemovesItsPermissionsTokensAndKeysButNoOneElses() {
        Identity gone = identity(0, false);
        Identity kept = identity(1, false);
        for (Identity i : List.of(gone, kept)) {
            assertThat(store.upsertPermission(permission(i, "vm" + "a".repeat(18), null, 0))).isPresent();
            assertThat(store.insertToken(token(i, "sha-" + i.id(), null))).isTrue();
            assertThat(store.insertSshKey(key(i, "SHA256:" + i.id()))).isEqualTo(KeyInsert.INSERTED);
        }
        assertThat(store.deleteIdentity(gone.id())).isTrue();
        assertThat(store.deleteIdentity(gone.id())).isFalse();

        assertThat(store.findIdentity(gone.id())).isEmpty();
        assertThat(store.findPermission(gone.id(), "vm" + "a".repeat(18))).isEmpty();
        assertThat(store.findTokenByHash("sha-" + gone.id())).isEmpty();
        assertThat(store.findSshKeyByFingerprint("SHA256:" + gone.id())).isEmpty();

        assertThat(store.findPermission(kept.id(), "vm" + "a".repeat(18))).isPresent();
        assertThat(store.findTokenByHash("sha-" + kept.id())).isPresent();
        assertThat(store.findSshKeyByFingerprint("SHA256:" + kept.id())).isPresent();
    }

    @Test
    public void aPermissionRoundTripsItsUsersAndRegrantingKeepsItsIdButReplacesUsers() {
        Identity i = identity(0, false);
        String vm = "v".repeat(20);
        VmPermission first = store.upsertPermission(permission(i, vm, List.of("root", "dev"), 5)).orElseThrow();
        assertThat(first.allowedUsers()).containsExactly("root", "dev");
        assertThat(first.grantedAt()).isEqualTo(T0.plusSeconds(5));
        assertThat(first.grantedBy()).isEqualTo("admin");

        VmPermission again = store.upsertPermission(permission(i, vm, null, 9)).orElseThrow();
        assertThat(again.id()).isEqualTo(first.id());
        assertThat(again.allowedUsers()).isNull();
        assertThat(again.grantedAt()).isEqualTo(T0.plusSeconds(9));
        assertThat(store.countPermissions(i.id())).isEqualTo(1);

        // an empty list (nobody) stays distinct from null (anybody)
        assertThat(store.updatePermission(i.id(), vm, List.of()).orElseThrow().allowedUsers()).isEmpty();
        assertThat(store.findPermission(i.id(), vm).orElseThrow().allowedUsers()).isEmpty();
        assertThat(store.updatePermission(i.id(), "w".repeat(20), List.of("x"))).isEmpty();

        assertThat(store.upsertPermission(new VmPermission("p", "no-such-identity", vm, null, T0, "admin"))).isEmpty();
    }

    @Test
    public void permissionsPageAndDropPerVm() {
        Identity i = identity(0, false);
        Identity j = identity(1, false);
        List<String> vms = List.of("a".repeat(20), "b".repeat(20), "c".repeat(20));
        for (int n = 0; n < vms.size(); n++) store.upsertPermission(permission(i, vms.get(n), null, n));
        store.upsertPermission(permission(j, vms.get(1), List.of("root"), 0));

        assertThat(store.listPermissions(i.id(), 10, 0)).extracting(VmPermission::vmId).containsExactlyElementsOf(vms);
        assertThat(store.listPermissions(i.id(), 1, 1)).extracting(VmPermission::vmId).containsExactly(vms.get(1));
        assertThat(store.countPermissions(i.id())).isEqualTo(3);

        assertThat(store.deletePermissionsForVm(vms.get(1))).isEqualTo(2);
        assertThat(store.findPermission(j.id(), vms.get(1))).isEmpty();
        assertThat(store.listPermissions(i.id(), 10, 0)).extracting(VmPermission::vmId)
                .containsExactly(vms.get(0), vms.get(2));

        assertThat(store.deletePermission(i.id(), vms.get(0))).isTrue();
        assertThat(store.deletePermission(i.id(), vms.get(0))).isFalse();
        assertThat(store.deletePermission(j.id(), vms.get(2))).isFalse(); // someone else's
        assertThat(store.countPermissions(i.id())).isEqualTo(1);
    }

    @Test
    public void tokensAreFoundByHashRevokedOnceAndOnlyByTheirIdentity() {
        Identity i = identity(0, false);
        Identity other = identity(1, false);
        Instant expiry = T0.plus(1, ChronoUnit.HOURS);
        AccessToken a = token(i, "aa".repeat(32), expiry);
        AccessToken b = token(i, "bb".repeat(32), null);
        assertThat(store.insertToken(a)).isTrue();
        assertThat(store.insertToken(b)).isTrue();
        assertThat(store.insertToken(new AccessToken("t", "no-such-identity", "cc".repeat(32), T0, null, null))).isFalse();
        assertThat(store.findTokenByHash("cc".repeat(32))).isEmpty();

        assertThat(store.findTokenByHash("aa".repeat(32))).contains(a);
        assertThat(store.findTokenByHash("bb".repeat(32)).orElseThrow().expiresAt()).isNull();
        assertThat(store.listTokens(i.id())).extracting(AccessToken::id).containsExactlyInAnyOrder(a.id(), b.id());

        assertThat(store.revokeToken(other.id(), a.id(), T0)).isFalse();
        assertThat(store.revokeToken(i.id(), a.id(), T0.plusSeconds(7))).isTrue();
        assertThat(store.revokeToken(i.id(), a.id(), T0.plusSeconds(8))).isFalse();
        // the row stays (for the record), marked with the first revocation time, and leaves the list
        assertThat(store.findTokenByHash("aa".repeat(32)).orElseThrow().revokedAt()).isEqualTo(T0.plusSeconds(7));
        assertThat(store.listTokens(i.id())).extracting(AccessToken::id).containsExactly(b.id());
    }

    @Test
    public void aKeyBelongsToOneIdentity() {
        Identity i = identity(0, false);
        Identity other = identity(1, false);
        SshKey k = key(i, "SHA256:abc");
        assertThat(store.insertSshKey(k)).isEqualTo(KeyInsert.INSERTED);
        assertThat(store.insertSshKey(key(other, "SHA256:abc"))).isEqualTo(KeyInsert.KEY_IN_USE);
        assertThat(store.insertSshKey(key(i, "SHA256:abc"))).isEqualTo(KeyInsert.KEY_IN_USE);
        assertThat(store.insertSshKey(new SshKey("k", "no-such-identity", "ssh-ed25519 AAAA", "SHA256:def", null, T0)))
                .isEqualTo(KeyInsert.NO_IDENTITY);
        assertThat(store.findSshKeyByFingerprint("SHA256:abc")).contains(k);
        assertThat(store.listSshKeys(i.id())).containsExactly(k);
        assertThat(store.listSshKeys(other.id())).isEmpty();

        assertThat(store.deleteSshKey(other.id(), k.id())).isFalse();
        assertThat(store.deleteSshKey(i.id(), k.id())).isTrue();
        assertThat(store.findSshKeyByFingerprint("SHA256:abc")).isEmpty();
        assertThat(store.insertSshKey(key(other, "SHA256:abc"))).isEqualTo(KeyInsert.INSERTED);
    }

    @Test
    public void concurrentGrantsOfOneVmLeaveOnePermission() throws Exception {
        Identity i = identity(0, false);
        String vm = "z".repeat(20);
        var pool = Executors.newFixedThreadPool(8);
        List<Future<VmPermission>> fs = new ArrayList<>();
        for (int n = 0; n < 16; n++) {
            int user = n;
            fs.add(pool.submit(() -> store.upsertPermission(permission(i, vm, List.of("u" + user), user)).orElseThrow()));
        }
        List<String> ids = new ArrayList<>();
        for (var f : fs) ids.add(f.get().id());
        pool.shutdown();
        assertThat(ids).containsOnly(ids.get(0));
        assertThat(store.countPermissions(i.id())).isEqualTo(1);
    }
}
