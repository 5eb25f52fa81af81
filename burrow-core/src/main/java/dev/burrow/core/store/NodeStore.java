package dev.burrow.core.store;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The hosts sharing one database. Each registers itself at start and renews its {@code heartbeatAt}
 * ({@link dev.burrow.core.loop.NodeHeartbeat}); a node whose heartbeat is older than a TTL is stale — reported, never
 * deleted here (a stale node's VMs and claims are for whoever handles dead nodes to decide on).
 */
public interface NodeStore {

    /**
     * A node: its id (the {@code node} of its VMs), where it serves its API, when this run of it started, when it last
     * beat, free-form labels and its capacity (vcpus, memory, VMs: names are the caller's).
     */
    record Node(String id, String address, Instant startedAt, Instant heartbeatAt, Map<String, String> labels,
                Map<String, Long> capacity) {
        public Node {
            if (id == null || id.isBlank()) throw new IllegalArgumentException("a node needs an id");
            labels = labels == null ? Map.of() : Map.copyOf(labels);
            capacity = capacity == null ? Map.of() : Map.copyOf(capacity);
        }

        public boolean staleAt(Instant now, java.time.Duration ttl) {
            return heartbeatAt.plus(ttl).isBefore(now);
        }
    }

    /** Inserts the node or replaces its row (a restart: new address, start time, labels, capacity). */
    void register(Node node);

    /** Moves the node's heartbeat to {@code at} (never backwards); false when the node is not registered. */
    boolean heartbeat(String id, Instant at);

    Optional<Node> find(String id);

    /** Every registered node, by id. */
    List<Node> list();

    /** Nodes whose last heartbeat is before {@code heartbeatBefore} (now minus the TTL), by id. */
    List<Node> stale(Instant heartbeatBefore);
}
