package dev.burrow.core.store;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * Named leases with a time to live, shared by every node on one database: one owner at a time (a warm pool's
 * replenisher, a singleton job). A lease is free when it was never taken, was released, or its {@code expiresAt} has
 * passed; the holder renews it (its heartbeat) well within the TTL and stops acting as holder when a renewal fails.
 *
 * <p>Times are the caller's ({@code now}, from an injected clock), compared in the database in one statement, so two
 * nodes never both win; nodes' clocks must agree to well within the TTL. {@code generation} grows by one each time the
 * lease changes hands (a fencing token: a write guarded by it refuses a holder that lost the lease while paused).
 */
public interface LeaseStore {

    /** A held lease as stored. */
    record Lease(String name, Owner owner, Instant acquiredAt, Instant expiresAt, long generation) {
        public boolean heldAt(Instant now) {
            return expiresAt.isAfter(now);
        }
    }

    /**
     * Takes the lease if it is free at {@code now} (or already {@code owner}'s, then it is renewed): one statement, so
     * of concurrent callers at most one gets it. Empty when another owner holds it.
     */
    Optional<Lease> acquire(String name, Owner owner, Duration ttl, Instant now);

    /** Extends {@code owner}'s unexpired lease to {@code now + ttl}. Empty when it is not (or no longer) theirs. */
    Optional<Lease> renew(String name, Owner owner, Duration ttl, Instant now);

    /** Frees {@code owner}'s lease at once (its generation is kept). False when it was not theirs. */
    boolean release(String name, Owner owner);

    /** The lease as stored, expired or not; empty when it was never taken. */
    Optional<Lease> find(String name);
}
