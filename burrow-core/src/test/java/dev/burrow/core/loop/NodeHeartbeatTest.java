package dev.burrow.core.loop;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.burrow.core.store.NodeStore.Node;
import dev.burrow.core.testing.InMemoryNodeStore;

class NodeHeartbeatTest {
    static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    final InMemoryNodeStore nodes = new InMemoryNodeStore();
    final NodeHeartbeat heartbeat = new NodeHeartbeat(nodes,
            new Node("n1", "http://127.0.0.1:8790", T0, T0, Map.of("version", "1"), Map.of("vcpus", 4L)),
            Duration.ofSeconds(10));

    @Test
    void theFirstPassRegistersAndLaterPassesOnlyMoveTheHeartbeat() {
        heartbeat.runOnce(T0.plusSeconds(1));
        assertThat(nodes.find("n1")).get().satisfies(n -> {
            assertThat(n.startedAt()).isEqualTo(T0);
            assertThat(n.heartbeatAt()).isEqualTo(T0.plusSeconds(1));
            assertThat(n.capacity()).containsEntry("vcpus", 4L);
        });
        heartbeat.runOnce(T0.plusSeconds(11));
        assertThat(nodes.find("n1").orElseThrow().heartbeatAt()).isEqualTo(T0.plusSeconds(11));
        assertThat(nodes.stale(T0.plusSeconds(5))).isEmpty();
        assertThat(nodes.stale(T0.plusSeconds(12))).extracting(Node::id).containsExactly("n1");
    }

    @Test
    void aNodeWhoseRowWentMissingRegistersAgain() {
        heartbeat.runOnce(T0.plusSeconds(1));
        nodes.remove("n1");
        heartbeat.runOnce(T0.plusSeconds(11));
        assertThat(nodes.find("n1").orElseThrow().heartbeatAt()).isEqualTo(T0.plusSeconds(11));
    }

    @Test
    void aRestartRegistersAnewEvenWhenTheOldRowIsStillThere() {
        nodes.register(new Node("n1", "http://old", T0.minusSeconds(3600), T0.minusSeconds(60), Map.of(), Map.of()));
        heartbeat.runOnce(T0.plusSeconds(1));
        assertThat(nodes.find("n1").orElseThrow().address()).isEqualTo("http://127.0.0.1:8790");
        assertThat(nodes.find("n1").orElseThrow().startedAt()).isEqualTo(T0);
    }
}
