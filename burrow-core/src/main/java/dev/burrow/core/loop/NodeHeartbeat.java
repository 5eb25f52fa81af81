package dev.burrow.core.loop;

import java.time.Duration;
import java.time.Instant;

import dev.burrow.core.store.NodeStore;
import dev.burrow.core.store.NodeStore.Node;

/**
 * Keeps this node's row in the {@link NodeStore} alive: the first pass registers it (start time, address, labels,
 * capacity), later passes renew its heartbeat, and a node whose row went missing (an operator removed it) registers
 * again. Other nodes read a heartbeat older than a few intervals as a stale node.
 */
public final class NodeHeartbeat extends FixedIntervalLoop {
    /** How often a node beats. */
    public static final Duration INTERVAL = Duration.ofSeconds(10);
    /** A heartbeat older than this (three missed beats) marks a stale node: {@code NodeStore.stale(now - STALE_AFTER)}. */
    public static final Duration STALE_AFTER = INTERVAL.multipliedBy(3);

    private final NodeStore nodes;
    private final Node self;
    private volatile boolean registered;

    /** {@code self}'s {@code startedAt} is kept; its {@code heartbeatAt} is replaced by each pass's time. */
    public NodeHeartbeat(NodeStore nodes, Node self, Duration interval) {
        super("node-heartbeat", interval);
        this.nodes = nodes;
        this.self = self;
    }

    /** A server's own row: its version as a label, its capacity (vcpus, memoryMb, maxVms). */
    public static Node self(String nodeId, String address, Instant startedAt, String version, long vcpus, long memoryMb,
                            long maxVms) {
        return new Node(nodeId, address, startedAt, startedAt, java.util.Map.of("version", version),
                java.util.Map.of("vcpus", vcpus, "memoryMb", memoryMb, "maxVms", maxVms));
    }

    @Override
    public void runOnce(Instant now) {
        if (registered && nodes.heartbeat(self.id(), now)) return;
        nodes.register(new Node(self.id(), self.address(), self.startedAt(), now, self.labels(), self.capacity()));
        registered = true;
    }
}
