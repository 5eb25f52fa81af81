package dev.burrow.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.store.ApiKeyStore;
import dev.burrow.core.store.SnapshotStore;
import dev.burrow.core.store.Stores;
import dev.burrow.core.store.VmQuery;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

/**
 * The contract of the VM, snapshot and API-key store ports, for every implementation: the SQL stores on each
 * database and the in-memory ones the HTTP test harness runs on, so the fake cannot drift from the real stores.
 * Subclasses open fresh, empty stores for each test (db-scheduler's compatibility-test pattern).
 */
public abstract class VmStoreContract {
    protected VmStore store;
    protected SnapshotStore snapshots;
    protected ApiKeyStore apiKeys;

    /** Fresh, empty stores for one test. */
    protected abstract Stores openStores() throws Exception;

    /** Releases what {@link #openStores} opened. */
    protected void closeStores() { }

    @BeforeEach
    void openContractStores() throws Exception {
        Stores s = openStores();
        store = s.vms();
        snapshots = s.snapshots();
        apiKeys = s.apiKeys();
    }

    @AfterEach
    void closeContractStores() {
        closeStores();
    }

    protected static Vm newVm(Map<String, String> labels) {
        Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        return new Vm(VmId.generate(), new VmSpec("builtin:busybox", 1, 256, Map.of("A", "b"), "/w", 60,
                new dev.burrow.core.vm.Persistence(dev.burrow.core.vm.Persistence.Type.EPHEMERAL, 3, null), labels, 128, null,
                java.util.List.of(new dev.burrow.core.vm.ServiceSpec("web", dev.burrow.core.vm.ServiceSpec.Mode.SERVICE,
                        java.util.List.of("echo a", "sleep 1"), Map.of("K", "v"), "nobody", "daemon", "/srv",
                        java.util.List.of("db"), java.util.List.of("db"), java.util.List.of("alarm"), false, 7, true, false,
                        new dev.burrow.core.vm.ServiceSpec.Restart(dev.burrow.core.vm.ServiceSpec.Policy.ON_ABNORMAL, 0.5, 3, 20), true, 5))),
                VmStatus.CREATING, null, now, now, now, "n1", "runc", null, 0);
    }

    protected static VmEvent ev(Vm vm, VmStatus from, VmStatus to) {
        return VmEvent.of(vm.id(), Instant.now(), from, to, "test", "test", null, 3L);
    }

    @Test
    public void insertFindRoundTripsEveryField() {
        Vm vm = newVm(Map.of("team", "a"));
        store.insert(vm, ev(vm, null, VmStatus.CREATING));
        Vm got = store.find(vm.id()).orElseThrow();
        assertThat(got.spec()).isEqualTo(vm.spec());
        assertThat(got.createdAt()).isEqualTo(vm.createdAt());
        assertThat(got.status()).isEqualTo(VmStatus.CREATING);
        assertThat(got.version()).isEqualTo(1);
        assertThat(store.events(vm.id(), 10)).hasSize(1).first().satisfies(e -> {
            assertThat(e.to()).isEqualTo(VmStatus.CREATING);
            assertThat(e.durationMs()).isEqualTo(3L);
        });
    }

    @Test
    public void updateIsOptimisticAndWritesItsEventAtomically() {
        Vm vm = newVm(Map.of());
        store.insert(vm, ev(vm, null, VmStatus.CREATING));
        Vm v1 = store.find(vm.id()).orElseThrow();
        Vm v2 = store.update(v1.withStatus(VmStatus.RUNNING, null, Instant.now()), ev(v1, VmStatus.CREATING, VmStatus.RUNNING))
                .orElseThrow();
        assertThat(v2.version()).isEqualTo(2);
        // a writer holding the stale version loses and its event is not written
        assertThat(store.update(v1.withStatus(VmStatus.FAILED, "x", Instant.now()), ev(v1, VmStatus.CREATING, VmStatus.FAILED)))
                .isEmpty();
        assertThat(store.find(vm.id()).orElseThrow().status()).isEqualTo(VmStatus.RUNNING);
        assertThat(store.events(vm.id(), 10)).extracting(VmEvent::to).containsExactly(VmStatus.CREATING, VmStatus.RUNNING);
    }

    @Test
    public void concurrentUpdatesOfOneVersionHaveExactlyOneWinner() throws Exception {
        Vm vm = newVm(Map.of());
        store.insert(vm, ev(vm, null, VmStatus.CREATING));
        Vm v1 = store.find(vm.id()).orElseThrow();
        var pool = Executors.newFixedThreadPool(8);
        List<Future<Boolean>> fs = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            fs.add(pool.submit(() -> store.update(v1.withStatus(VmStatus.RUNNING, null, Instant.now()),
                    ev(v1, VmStatus.CREATING, VmStatus.RUNNING)).isPresent()));
        }
        int winners = 0;
        for (var f : fs) if (f.get()) winners++;
        pool.shutdown();
        assertThat(winners).isEqualTo(1);
        assertThat(store.events(vm.id(), 100)).hasSize(2);
    }

    @Test
    public void listHidesDeletedAndFiltersByLabels() {
        Vm a = newVm(Map.of("team", "a"));
        Vm b = newVm(Map.of("team", "b"));
        store.insert(a, ev(a, null, VmStatus.CREATING));
        store.insert(b, ev(b, null, VmStatus.CREATING));
        Vm b1 = store.find(b.id()).orElseThrow();
        store.update(b1.withStatus(VmStatus.DELETED, null, Instant.now()), ev(b1, VmStatus.CREATING, VmStatus.DELETED));
        assertThat(store.list(VmQuery.all())).extracting(Vm::id).containsExactly(a.id());
        assertThat(store.list(new VmQuery(true, Map.of(), 0, 0))).hasSize(2);
        assertThat(store.list(new VmQuery(true, Map.of("team", "b"), 0, 0))).extracting(Vm::id).containsExactly(b.id());
    }

    @Test
    public void pagingByIdReturnsEveryVmExactlyOnceAcrossMorePagesThanOne() {
        List<String> live = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            Vm vm = newVm(Map.of());
            store.insert(vm, ev(vm, null, VmStatus.CREATING));
            live.add(vm.id());
        }
        Vm gone = newVm(Map.of());
        store.insert(gone, ev(gone, null, VmStatus.CREATING));
        Vm g1 = store.find(gone.id()).orElseThrow();
        store.update(g1.withStatus(VmStatus.DELETED, null, Instant.now()), ev(g1, VmStatus.CREATING, VmStatus.DELETED));

        // 23 VMs in pages of 5: four full pages and a short one; a page size that divides the count ends on an
        // empty page
        for (int pageSize : List.of(5, 23, 1)) {
            List<String> seen = new ArrayList<>();
            new dev.burrow.core.store.VmPages(store, pageSize).forEach(vm -> seen.add(vm.id()));
            assertThat(seen).as("page size " + pageSize).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(live);
        }
        List<Vm> firstPage = store.pageById(null, 5);
        assertThat(firstPage).hasSize(5);
        assertThat(store.pageById(firstPage.get(4).id(), 100)).hasSize(18);
    }

    protected static Vm on(String node, Instant createdAt, VmStatus status) {
        Vm v = newVm(Map.of("node", node, "kind", "test"));
        return new Vm(v.id(), v.spec(), status, null, createdAt, createdAt, createdAt, node, v.driver(), null, 0);
    }

    @Test
    public void queriesFilterByNodeStatusAndAgeAndPageWithACursor() {
        Instant t0 = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        List<Vm> n1 = new ArrayList<>();
        List<Vm> all = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            // pairs created at the same millisecond, so the cursor has ties to break by id
            Vm a = on("n1", t0.plusMillis(i / 2), i % 3 == 0 ? VmStatus.RUNNING : VmStatus.STOPPED);
            Vm b = on("n2", t0.plusMillis(i / 2), VmStatus.RUNNING);
            store.insert(a, ev(a, null, a.status()));
            store.insert(b, ev(b, null, b.status()));
            n1.add(a);
            all.add(a);
            all.add(b);
        }
        Vm gone = on("n1", t0, VmStatus.DELETED);
        store.insert(gone, ev(gone, null, VmStatus.DELETED));

        assertThat(store.list(VmQuery.all().withNode("n1"))).extracting(Vm::id)
                .containsExactlyInAnyOrderElementsOf(n1.stream().map(Vm::id).toList());
        assertThat(store.list(VmQuery.all().withNode("n3"))).isEmpty();
        assertThat(store.list(VmQuery.all().withNode("n1").withStatuses(java.util.Set.of(VmStatus.RUNNING))))
                .extracting(Vm::status).hasSize(4).containsOnly(VmStatus.RUNNING);
        assertThat(store.list(VmQuery.all().withStatuses(java.util.Set.of(VmStatus.RUNNING, VmStatus.STOPPED))))
                .hasSize(20);
        // deleted VMs only when asked for, whatever the other filters
        assertThat(store.list(new VmQuery(true, Map.of(), 0, 0).withNode("n1")
                .withStatuses(java.util.Set.of(VmStatus.DELETED)))).extracting(Vm::id).containsExactly(gone.id());
        assertThat(store.list(VmQuery.all().withStatuses(java.util.Set.of(VmStatus.DELETED)))).isEmpty();
        // strictly older than: the first two pairs
        assertThat(store.list(VmQuery.all().withCreatedBefore(t0.plusMillis(2)))).hasSize(8)
                .allSatisfy(vm -> assertThat(vm.createdAt()).isBefore(t0.plusMillis(2)));
        // labels (filtered outside SQL) combine with the rest
        assertThat(store.list(new VmQuery(false, Map.of("node", "n2"), 0, 0).withCreatedBefore(t0.plusMillis(1))))
                .hasSize(2).extracting(Vm::node).containsOnly("n2");

        // a cursor walk sees every VM once, newest first, whatever the page size, ties broken by id
        List<String> expected = all.stream().sorted(java.util.Comparator.comparing(Vm::createdAt).reversed()
                .thenComparing(Vm::id)).map(Vm::id).toList();
        for (int size : List.of(1, 3, 20)) {
            for (Map<String, String> labels : List.of(Map.<String, String>of(), Map.of("kind", "test"))) {
                List<String> seen = new ArrayList<>();
                VmQuery.Cursor cursor = null;
                List<Vm> page;
                do {
                    page = store.list(new VmQuery(false, labels, 0, 0).page(cursor, size));
                    page.forEach(vm -> seen.add(vm.id()));
                    if (!page.isEmpty()) cursor = VmQuery.Cursor.of(page.get(page.size() - 1));
                } while (page.size() == size);
                assertThat(seen).as("page size " + size + " labels " + labels).isEqualTo(expected);
            }
        }
    }

    @Test
    public void pagingByIdCanBeLimitedToOneNode() {
        List<String> n2 = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            Vm vm = on(i % 3 == 0 ? "n2" : "n1", Instant.now().truncatedTo(ChronoUnit.MILLIS), VmStatus.RUNNING);
            store.insert(vm, ev(vm, null, VmStatus.RUNNING));
            if (vm.node().equals("n2")) n2.add(vm.id());
        }
        List<String> seen = new ArrayList<>();
        new dev.burrow.core.store.VmPages(store, "n2", 2).forEach(vm -> seen.add(vm.id()));
        assertThat(seen).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(n2);
        assertThat(store.everyVm("n2")).extracting(Vm::id).containsExactlyInAnyOrderElementsOf(n2);
        assertThat(store.everyVm()).hasSize(12);
        assertThat(store.everyVm("n9")).isEmpty();
        assertThat(store.pageById("n1", null, 100)).hasSize(8).extracting(Vm::node).containsOnly("n1");
    }

    @Test
    public void listsAreNotCutShortAndPageWithLimitAndOffset() {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 1_005; i++) {
            Vm vm = newVm(Map.of("team", i % 2 == 0 ? "even" : "odd"));
            store.insert(vm, ev(vm, null, VmStatus.CREATING));
            ids.add(vm.id());
        }
        // more than the old silent cap of 1,000
        assertThat(store.list(VmQuery.all())).hasSize(1_005);
        assertThat(store.list(new VmQuery(false, Map.of("team", "even"), 0, 0))).hasSize(503);
        List<String> paged = new ArrayList<>();
        for (int offset = 0; offset < 1_005; offset += 400) {
            store.list(new VmQuery(false, Map.of(), 400, offset)).forEach(vm -> paged.add(vm.id()));
        }
        assertThat(paged).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(ids);
        assertThat(store.list(new VmQuery(false, Map.of("team", "odd"), 2, 501))).hasSize(1);
    }

    @Test
    public void countsByStatusAreTheStoresOwnAndLeaveDeletedOutUnlessAsked() {
        for (int i = 0; i < 3; i++) {
            Vm vm = newVm(Map.of());
            store.insert(vm, ev(vm, null, VmStatus.CREATING));
        }
        Vm d = newVm(Map.of());
        store.insert(d, ev(d, null, VmStatus.CREATING));
        Vm d1 = store.find(d.id()).orElseThrow();
        store.update(d1.withStatus(VmStatus.DELETED, null, Instant.now()), ev(d1, VmStatus.CREATING, VmStatus.DELETED));
        assertThat(store.countByStatus(false)).isEqualTo(Map.of(VmStatus.CREATING, 3L));
        assertThat(store.countByStatus(true)).isEqualTo(Map.of(VmStatus.CREATING, 3L, VmStatus.DELETED, 1L));
    }

    @Test
    public void anIdempotencyKeyIsClaimedOnceAndAtomicallyWithItsVm() {
        Vm a = newVm(Map.of());
        Vm b = newVm(Map.of());
        var key = new dev.burrow.core.store.VmStore.IdempotencyKey("k-1", "hash-a", a.id());
        assertThat(store.insert(a, ev(a, null, VmStatus.CREATING), key)).isTrue();
        // the same key for another VM inserts nothing at all
        assertThat(store.insert(b, ev(b, null, VmStatus.CREATING),
                new dev.burrow.core.store.VmStore.IdempotencyKey("k-1", "hash-b", b.id()))).isFalse();
        assertThat(store.find(b.id())).isEmpty();
        assertThat(store.events(b.id(), 10)).isEmpty();
        assertThat(store.findIdempotencyKey("k-1")).contains(key);
        assertThat(store.findIdempotencyKey("k-2")).isEmpty();
    }

    @Test
    public void touchOnlyMovesActivityForward() {
        Vm vm = newVm(Map.of());
        store.insert(vm, ev(vm, null, VmStatus.CREATING));
        Instant later = vm.lastActivityAt().plusSeconds(30);
        store.touch(vm.id(), later);
        store.touch(vm.id(), vm.lastActivityAt());
        Vm got = store.find(vm.id()).orElseThrow();
        assertThat(got.lastActivityAt()).isEqualTo(later);
        assertThat(got.version()).isEqualTo(1);
    }

    @Test
    public void networkActivityStartsNullMovesForwardOnlyAndCountsAsActivity() {
        Vm vm = newVm(Map.of());
        store.insert(vm, ev(vm, null, VmStatus.CREATING));
        assertThat(store.find(vm.id()).orElseThrow().lastNetworkActivityAt()).isNull();
        Instant later = vm.lastActivityAt().plusSeconds(30);
        store.touchNetwork(vm.id(), later);
        store.touchNetwork(vm.id(), later.minusSeconds(10));
        Vm got = store.find(vm.id()).orElseThrow();
        assertThat(got.lastNetworkActivityAt()).isEqualTo(later);
        assertThat(got.lastActivityAt()).isEqualTo(later);
        assertThat(got.version()).isEqualTo(1);
        // a status write keeps it
        Vm updated = store.update(got.withStatus(VmStatus.RUNNING, null, later), ev(got, VmStatus.CREATING, VmStatus.RUNNING))
                .orElseThrow();
        assertThat(updated.lastNetworkActivityAt()).isEqualTo(later);
        // plain activity does not set it
        Vm other = newVm(Map.of());
        store.insert(other, ev(other, null, VmStatus.CREATING));
        store.touch(other.id(), later);
        assertThat(store.find(other.id()).orElseThrow().lastNetworkActivityAt()).isNull();
    }

    @Test
    public void apiKeysAreFoundByHashOnly() {
        apiKeys.upsert(new ApiKeyStore.ApiKey("admin", "admin", "ab".repeat(32), true));
        apiKeys.upsert(new ApiKeyStore.ApiKey("admin", "admin", "cd".repeat(32), true)); // rotation replaces
        assertThat(apiKeys.findByHash("ab".repeat(32))).isEmpty();
        assertThat(apiKeys.findByHash("cd".repeat(32))).get().extracting(ApiKeyStore.ApiKey::admin).isEqualTo(true);
    }

    @Test
    public void snapshotsRoundTripListNewestFirstAndDelete() {
        Vm source = newVm(Map.of("team", "a"));
        Instant t0 = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        var older = new dev.burrow.core.vm.Snapshot(dev.burrow.core.vm.Snapshot.generateId(), "first", source.id(),
                "builtin:busybox", source.spec(), t0);
        var newer = new dev.burrow.core.vm.Snapshot(dev.burrow.core.vm.Snapshot.generateId(), null, source.id(),
                "builtin:busybox", source.spec(), t0.plusSeconds(1));
        snapshots.insertSnapshot(older);
        snapshots.insertSnapshot(newer);
        // every field survives, the source spec (resources, quota, labels) included
        assertThat(snapshots.findSnapshot(older.id())).contains(older);
        assertThat(snapshots.findSnapshot(newer.id()).orElseThrow().name()).isNull();
        assertThat(snapshots.listSnapshots()).extracting(dev.burrow.core.vm.Snapshot::id).containsExactly(newer.id(), older.id());
        assertThat(snapshots.deleteSnapshot(older.id())).isTrue();
        assertThat(snapshots.deleteSnapshot(older.id())).isFalse();
        assertThat(snapshots.findSnapshot(older.id())).isEmpty();
        assertThat(snapshots.listSnapshots()).extracting(dev.burrow.core.vm.Snapshot::id).containsExactly(newer.id());
    }

    @Test
    public void snapshotPersistenceTemplateHashFailureAndLastUseRoundTrip() {
        Vm source = newVm(Map.of());
        Instant t0 = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        var sticky = new dev.burrow.core.vm.Snapshot(dev.burrow.core.vm.Snapshot.generateId(), "built", source.id(),
                "builtin:busybox", source.spec(), t0,
                new dev.burrow.core.vm.Persistence(dev.burrow.core.vm.Persistence.Type.STICKY, 2, null), t0, "h".repeat(64),
                null, "app");
        var failed = new dev.burrow.core.vm.Snapshot(dev.burrow.core.vm.Snapshot.generateId(), null, source.id(),
                "builtin:busybox", source.spec(), t0.plusSeconds(5), null, null, "h".repeat(64), "RUN step 2 failed", null);
        snapshots.insertSnapshot(sticky);
        snapshots.insertSnapshot(failed);
        assertThat(snapshots.findSnapshot(sticky.id())).contains(sticky);
        assertThat(snapshots.findSnapshot(failed.id()).orElseThrow().failed()).isTrue();
        assertThat(snapshots.findSnapshot(failed.id()).orElseThrow().persistence()).isEqualTo(dev.burrow.core.vm.Persistence.DEFAULT);
        // the cache lookup skips the newer failed attempt
        assertThat(snapshots.findSnapshotByTemplate("h".repeat(64))).map(dev.burrow.core.vm.Snapshot::id).contains(sticky.id());
        assertThat(snapshots.findSnapshotByTemplate("x".repeat(64))).isEmpty();
        var persistent = sticky.withName("renamed").withPersistence(
                new dev.burrow.core.vm.Persistence(dev.burrow.core.vm.Persistence.Type.PERSISTENT, 5, null));
        assertThat(snapshots.updateSnapshot(persistent)).isTrue();
        assertThat(snapshots.touchSnapshot(sticky.id(), t0.plusSeconds(60))).isTrue();
        var got = snapshots.findSnapshot(sticky.id()).orElseThrow();
        assertThat(got.name()).isEqualTo("renamed");
        assertThat(got.persistence().type()).isEqualTo(dev.burrow.core.vm.Persistence.Type.PERSISTENT);
        assertThat(got.lastUsedAt()).isEqualTo(t0.plusSeconds(60));
        assertThat(got.createdAt()).isEqualTo(t0);
        assertThat(got.user()).isEqualTo("app");
        assertThat(snapshots.updateSnapshot(persistent.withName("x").withPersistence(dev.burrow.core.vm.Persistence.DEFAULT)
                .withName(null))).isTrue();
        assertThat(snapshots.findSnapshot(sticky.id()).orElseThrow().name()).isNull();
        String missing = dev.burrow.core.vm.Snapshot.generateId();
        assertThat(snapshots.touchSnapshot(missing, t0)).isFalse();
        assertThat(snapshots.updateSnapshot(new dev.burrow.core.vm.Snapshot(missing, null, source.id(), "x", source.spec(), t0))).isFalse();
    }

    @Test
    public void aVmRemembersTheSnapshotItWasMadeFrom() {
        Vm base = newVm(Map.of());
        var s = base.spec();
        Vm vm = base.withSpec(new VmSpec(s.image(), s.vcpuCount(), s.memSizeMb(), s.env(), s.workdir(),
                s.idleTimeoutSeconds(), s.persistence(), s.labels(), 64, "sc-" + "a".repeat(20)));
        store.insert(vm, ev(vm, null, VmStatus.CREATING));
        Vm got = store.find(vm.id()).orElseThrow();
        assertThat(got.spec().snapshotId()).isEqualTo("sc-" + "a".repeat(20));
        assertThat(got.spec().rootfsSizeMb()).isEqualTo(64);
    }
}
