package dev.burrow.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.store.ClaimQueue;
import dev.burrow.core.store.ClaimQueue.Claim;
import dev.burrow.core.store.LeaseStore.Lease;
import dev.burrow.core.store.NodeStore.Node;
import dev.burrow.core.store.Owner;

/**
 * The primitives many hosts share one database through — claims, leases, node heartbeats — on every database. Two
 * {@link Database}s on the same database play two servers, each with its own connection pool. Times are fixed
 * instants handed in (the callers' injected clock), so expiry is decided by the test, never by how fast it runs.
 */
abstract class CoordinationStoreContractTest {
    static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    static final Duration TTL = Duration.ofSeconds(30);

    Database db;
    /** A second server's pool on the same database. */
    Database db2;

    abstract String jdbcUrl() throws Exception;

    @BeforeEach
    void open() throws Exception {
        String url = jdbcUrl();
        db = Database.open(url, null, null);
        db2 = Database.open(url, null, null);
    }

    @AfterEach
    void close() {
        db2.close();
        db.close();
    }

    // ---- claims ----

    @Test
    void twoServersClaimingTenThousandRowsTakeEachExactlyOnce() throws Exception {
        int rows = 10_000;
        db.jdbi().useHandle(h -> {
            var batch = h.prepareBatch("""
                    INSERT INTO claims (id, queue, payload, created_at, available_at, attempts)
                    VALUES (:id, 'q', :payload, :at, :at, 0)""");
            for (int i = 0; i < rows; i++) {
                batch.bind("id", String.format("item-%05d", i)).bind("payload", "p" + i).bind("at", T0.toEpochMilli())
                        .add();
            }
            batch.execute();
        });
        // a row of another queue and one not yet available are not taken
        var queue1 = new SqlClaimQueue(db);
        assertThat(queue1.offer("other", "other-1", null, T0)).isTrue();
        assertThat(queue1.offer("q", "later-1", null, T0.plusSeconds(60))).isTrue();

        List<ClaimQueue> queues = List.of(queue1, new SqlClaimQueue(db2));
        int threadsPerServer = 4;
        Map<String, AtomicInteger> taken = new ConcurrentHashMap<>();
        AtomicInteger wrongAttempts = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(queues.size() * threadsPerServer);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Integer>> workers = new ArrayList<>();
        for (ClaimQueue queue : queues) {
            for (int t = 0; t < threadsPerServer; t++) {
                Owner owner = Owner.on("node-" + queues.indexOf(queue));
                workers.add(pool.submit(() -> {
                    go.await();
                    int mine = 0;
                    List<Claim> batch;
                    // an empty answer means every claimable row is taken or locked by a claimer that will take it
                    while (!(batch = queue.claim("q", owner, 25, Duration.ofHours(1), T0)).isEmpty()) {
                        for (Claim c : batch) {
                            taken.computeIfAbsent(c.id(), k -> new AtomicInteger()).incrementAndGet();
                            if (c.attempt() != 1 || !c.owner().equals(owner)) wrongAttempts.incrementAndGet();
                        }
                        mine += batch.size();
                    }
                    return mine;
                }));
            }
        }
        go.countDown();
        int total = 0;
        for (var w : workers) total += w.get();
        pool.shutdown();

        assertThat(total).isEqualTo(rows);
        assertThat(taken).hasSize(rows);
        assertThat(taken.values()).allSatisfy(n -> assertThat(n.get()).isEqualTo(1));
        assertThat(wrongAttempts.get()).isZero();
        assertThat(queue1.size("q")).isEqualTo(rows + 1);
        assertThat(queue1.claim("q", Owner.on("late"), 10, TTL, T0)).isEmpty();
        assertThat(queue1.claim("q", Owner.on("late"), 10, TTL, T0.plusSeconds(60))).extracting(Claim::id)
                .containsExactly("later-1");
        assertThat(queue1.claim("other", Owner.on("late"), 10, TTL, T0)).extracting(Claim::id).containsExactly("other-1");
    }

    @Test
    void anAbandonedClaimIsClaimedAgainAfterItsVisibilityTimeoutAndTheFirstClaimerIsFencedOut() {
        ClaimQueue q1 = new SqlClaimQueue(db);
        ClaimQueue q2 = new SqlClaimQueue(db2);
        Owner a = Owner.on("a");
        Owner b = Owner.on("b");
        assertThat(q1.offer("runs", "r1", "{\"x\":1}", T0)).isTrue();
        assertThat(q1.offer("runs", "r1", "{\"x\":2}", T0)).as("offer is idempotent by id").isFalse();

        Claim first = q1.claim("runs", a, 5, TTL, T0).getFirst();
        assertThat(first).isEqualTo(new Claim("runs", "r1", "{\"x\":1}", 1, a, T0.plus(TTL)));
        assertThat(q2.claim("runs", b, 5, TTL, T0.plusSeconds(29))).isEmpty();
        // the heartbeat keeps it hidden
        Claim extended = q1.extend(first, TTL, T0.plusSeconds(20)).orElseThrow();
        assertThat(extended.visibleAt()).isEqualTo(T0.plusSeconds(50));
        assertThat(q2.claim("runs", b, 5, TTL, T0.plusSeconds(49))).isEmpty();
        // the claimer stops beating: at the end of the timeout another takes it, one attempt later
        Claim second = q2.claim("runs", b, 5, TTL, T0.plusSeconds(50)).getFirst();
        assertThat(second.attempt()).isEqualTo(2);
        assertThat(second.owner()).isEqualTo(b);
        assertThat(q1.extend(first, TTL, T0.plusSeconds(51))).isEmpty();
        assertThat(q1.complete(first)).isFalse();
        assertThat(q1.release(first, T0)).isFalse();
        // the same owner with a stale attempt is fenced out too
        assertThat(q2.complete(new Claim("runs", "r1", null, 1, b, T0))).isFalse();
        assertThat(q2.extend(second, TTL, T0.plusSeconds(60))).isPresent();
        assertThat(q2.complete(second)).isTrue();
        assertThat(q1.size("runs")).isZero();
    }

    @Test
    void aReleasedItemComesBackAtItsTimeOldestAvailableFirst() {
        ClaimQueue q = new SqlClaimQueue(db);
        Owner a = Owner.on("a");
        q.offer("runs", "late", null, T0.plusSeconds(5));
        q.offer("runs", "early", null, T0.plusSeconds(1));
        q.offer("runs", "earliest", null, T0);
        assertThat(q.claim("runs", a, 2, Duration.ofHours(1), T0.plusSeconds(10))).extracting(Claim::id)
                .containsExactlyInAnyOrder("earliest", "early");
        Claim c = q.claim("runs", a, 5, Duration.ofHours(1), T0.plusSeconds(10)).getFirst();
        assertThat(c.id()).isEqualTo("late");
        // back for a retry in a minute, not before
        assertThat(q.release(c, T0.plusSeconds(70))).isTrue();
        assertThat(q.release(c, T0.plusSeconds(70))).as("released once").isFalse();
        assertThat(q.claim("runs", a, 5, Duration.ofHours(1), T0.plusSeconds(69))).isEmpty();
        assertThat(q.claim("runs", a, 5, Duration.ofHours(1), T0.plusSeconds(70))).extracting(Claim::id, Claim::attempt)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("late", 2));
        assertThat(q.claim("runs", a, 0, Duration.ofHours(1), T0.plusSeconds(999))).isEmpty();
    }

    // ---- leases ----

    @Test
    void underContentionExactlyOneOwnerHoldsTheLeaseAndExpiryHandsItOver() throws Exception {
        List<SqlLeaseStore> stores = List.of(new SqlLeaseStore(db), new SqlLeaseStore(db2));
        int contenders = 8;
        List<Owner> owners = new ArrayList<>();
        for (int i = 0; i < contenders; i++) owners.add(Owner.on("node-" + (i % 2)));
        ExecutorService pool = Executors.newFixedThreadPool(contenders);
        try {
            for (int round = 0; round < 10; round++) {
                // each round starts when the last holder's lease has expired
                Instant now = T0.plus(TTL.multipliedBy(round));
                CountDownLatch go = new CountDownLatch(1);
                List<Future<java.util.Optional<Lease>>> tries = new ArrayList<>();
                for (int i = 0; i < contenders; i++) {
                    Owner owner = owners.get(i);
                    SqlLeaseStore store = stores.get(i % 2);
                    tries.add(pool.submit(() -> {
                        go.await();
                        return store.acquire("pool:small", owner, TTL, now);
                    }));
                }
                go.countDown();
                List<Lease> won = new ArrayList<>();
                for (var t : tries) t.get().ifPresent(won::add);
                assertThat(won).as("round " + round).hasSize(1);
                Lease lease = won.getFirst();
                assertThat(lease.generation()).isEqualTo(round + 1);
                assertThat(lease.expiresAt()).isEqualTo(now.plus(TTL));
                assertThat(stores.get(0).find("pool:small")).contains(lease);
            }
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void onlyTheOwnerRenewsOrReleasesAndAnExpiredLeaseIsFreeForAnother() {
        var s1 = new SqlLeaseStore(db);
        var s2 = new SqlLeaseStore(db2);
        Owner a = Owner.on("n1");
        Owner b = Owner.on("n2");
        Owner aAfterRestart = Owner.on("n1");
        assertThat(s1.find("l")).isEmpty();
        Lease first = s1.acquire("l", a, TTL, T0).orElseThrow();
        assertThat(first).isEqualTo(new Lease("l", a, T0, T0.plus(TTL), 1));
        assertThat(s2.acquire("l", b, TTL, T0.plusSeconds(29))).isEmpty();
        assertThat(s2.acquire("l", aAfterRestart, TTL, T0.plusSeconds(29))).as("same node, another token").isEmpty();
        assertThat(s2.renew("l", b, TTL, T0.plusSeconds(10))).isEmpty();
        assertThat(s2.release("l", b)).isFalse();
        // the owner's heartbeat; acquiring again is a renewal too, in the same generation
        assertThat(s1.renew("l", a, TTL, T0.plusSeconds(20))).get().extracting(Lease::expiresAt)
                .isEqualTo(T0.plusSeconds(50));
        assertThat(s1.acquire("l", a, TTL, T0.plusSeconds(25))).contains(new Lease("l", a, T0, T0.plusSeconds(55), 1));
        assertThat(s2.acquire("l", b, TTL, T0.plusSeconds(54))).isEmpty();
        // missed heartbeats: at expiry the lease is another's and the old owner can neither renew nor release it
        Lease taken = s2.acquire("l", b, TTL, T0.plusSeconds(55)).orElseThrow();
        assertThat(taken).isEqualTo(new Lease("l", b, T0.plusSeconds(55), T0.plusSeconds(85), 2));
        assertThat(s1.renew("l", a, TTL, T0.plusSeconds(56))).isEmpty();
        assertThat(s1.release("l", a)).isFalse();
        // an expired lease not yet taken is not renewed either: its holder must assume it lost it
        assertThat(s2.renew("l", b, TTL, T0.plusSeconds(85))).isEmpty();
        // release frees it at once and keeps the generation counting
        assertThat(s2.acquire("l", b, TTL, T0.plusSeconds(90))).get().extracting(Lease::generation).isEqualTo(3L);
        assertThat(s2.release("l", b)).isTrue();
        assertThat(s2.release("l", b)).isFalse();
        assertThat(s1.find("l").orElseThrow().heldAt(T0.plusSeconds(91))).isFalse();
        assertThat(s1.acquire("l", a, TTL, T0.plusSeconds(91))).get().extracting(Lease::generation).isEqualTo(4L);
        // leases are independent by name
        assertThat(s2.acquire("other", b, TTL, T0.plusSeconds(91))).isPresent();
    }

    // ---- nodes ----

    @Test
    void nodesRegisterBeatAndAreReportedStaleNotDeleted() {
        var nodes = new SqlNodeStore(db);
        var otherServer = new SqlNodeStore(db2);
        nodes.register(new Node("n1", "http://10.0.0.1:8790", T0, T0, Map.of("zone", "a"),
                Map.of("vcpus", 8L, "memoryMb", 16_384L)));
        otherServer.register(new Node("n2", "http://10.0.0.2:8790", T0, T0, null, null));
        assertThat(nodes.find("n1")).contains(new Node("n1", "http://10.0.0.1:8790", T0, T0, Map.of("zone", "a"),
                Map.of("vcpus", 8L, "memoryMb", 16_384L)));
        assertThat(nodes.list()).extracting(Node::id).containsExactly("n1", "n2");

        assertThat(nodes.heartbeat("n1", T0.plusSeconds(10))).isTrue();
        assertThat(nodes.heartbeat("n1", T0.plusSeconds(5))).as("a late beat still finds the node").isTrue();
        assertThat(nodes.find("n1").orElseThrow().heartbeatAt()).as("never backwards").isEqualTo(T0.plusSeconds(10));
        assertThat(nodes.heartbeat("n9", T0)).isFalse();

        // a TTL of 30 s at T0+35: n2 (last beat T0) is stale, n1 (T0+10) is not
        Instant cutoff = T0.plusSeconds(35).minus(TTL);
        assertThat(otherServer.stale(cutoff)).extracting(Node::id).containsExactly("n2");
        assertThat(nodes.find("n2").orElseThrow().staleAt(T0.plusSeconds(35), TTL)).isTrue();
        assertThat(nodes.find("n1").orElseThrow().staleAt(T0.plusSeconds(35), TTL)).isFalse();
        assertThat(nodes.list()).hasSize(2);

        // a restart registers again: new start time and address, fresh heartbeat
        otherServer.register(new Node("n2", "http://10.0.0.3:8790", T0.plusSeconds(40), T0.plusSeconds(40),
                Map.of(), Map.of()));
        assertThat(nodes.stale(T0.plusSeconds(45).minus(TTL))).extracting(Node::id).containsExactly("n1");
        assertThat(nodes.find("n2").orElseThrow().address()).isEqualTo("http://10.0.0.3:8790");
    }
}
