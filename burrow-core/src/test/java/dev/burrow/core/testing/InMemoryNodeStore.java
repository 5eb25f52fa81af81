package dev.burrow.core.testing;

import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import dev.burrow.core.store.NodeStore;

/** A NodeStore for unit tests, with the SQL one's contract. */
public final class InMemoryNodeStore implements NodeStore {
    private final Map<String, Node> nodes = new ConcurrentHashMap<>();

    @Override
    public void register(Node node) {
        nodes.put(node.id(), node);
    }

    @Override
    public boolean heartbeat(String id, Instant at) {
        return nodes.computeIfPresent(id, (k, n) -> at.isAfter(n.heartbeatAt())
                ? new Node(n.id(), n.address(), n.startedAt(), at, n.labels(), n.capacity()) : n) != null;
    }

    @Override
    public Optional<Node> find(String id) {
        return Optional.ofNullable(nodes.get(id));
    }

    @Override
    public List<Node> list() {
        return nodes.values().stream().sorted(Comparator.comparing(Node::id)).toList();
    }

    @Override
    public List<Node> stale(Instant heartbeatBefore) {
        return list().stream().filter(n -> n.heartbeatAt().isBefore(heartbeatBefore)).toList();
    }

    public void remove(String id) {
        nodes.remove(id);
    }
}
