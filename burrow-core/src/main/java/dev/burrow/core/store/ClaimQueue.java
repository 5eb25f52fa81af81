package dev.burrow.core.store;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * A durable queue of items that workers on any node claim, shared by every node on one database (the primitive under
 * runs and pool replenishment; db-scheduler's pick and heartbeat, SQS's visibility timeout). An item is claimable when
 * its {@code availableAt} has passed. A claim hides the item for a visibility timeout: the claimer heartbeats
 * ({@link #extend}) while it works, then {@link #complete}s (removes) or {@link #release}s it (back for a later
 * attempt). A claimer that dies stops heartbeating, the timeout passes and another claims the item again, with
 * {@code attempt} one higher: delivery is at least once, and the attempt number fences the stale claimer out.
 *
 * <p>Two claimers never hold one item at once: the claim is one statement that picks and marks (PostgreSQL skips rows
 * another transaction has locked; SQLite has one writer at a time).
 */
public interface ClaimQueue {

    /** A claimed item: what the claimer works on and presents back to extend, complete or release it. */
    record Claim(String queue, String id, String payload, int attempt, Owner owner, Instant visibleAt) { }

    /** Adds an item claimable from {@code availableAt}; false (nothing changed) when {@code id} is already queued. */
    boolean offer(String queue, String id, String payload, Instant availableAt);

    /**
     * Claims at most {@code max} claimable items of {@code queue}, oldest available first, hiding each until
     * {@code now + visibility}.
     */
    List<Claim> claim(String queue, Owner owner, int max, Duration visibility, Instant now);

    /**
     * Pushes the claim's visibility to {@code now + visibility} (the claimer's heartbeat). Empty when it had already
     * passed: the item may be claimed again, so the claimer stops working on it.
     */
    Optional<Claim> extend(Claim claim, Duration visibility, Instant now);

    /** Removes the item: it is done. False when another claim took the item over (nothing changed). */
    boolean complete(Claim claim);

    /** Gives the item back, claimable from {@code availableAt} (a retry with backoff). False when another claim took the item over. */
    boolean release(Claim claim, Instant availableAt);

    /** How many items {@code queue} holds, claimed or not. */
    long size(String queue);
}
