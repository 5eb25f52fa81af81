package dev.burrow.server.http;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.core.JsonProcessingException;

import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;
import io.javalin.http.sse.SseClient;

/**
 * Fans every committed status change out to the server-sent-event subscribers of {@code /v1/events}.
 * Each event says which VM moved from what to what, by which operation, and who caused it (api, idle,
 * reconciler, timeout, eviction).
 */
public final class EventBroadcaster implements TransitionListener {
    private final Set<SseClient> clients = ConcurrentHashMap.newKeySet();
    private final AtomicLong sequence = new AtomicLong();

    public void subscribe(SseClient client) {
        client.keepAlive();
        client.onClose(() -> clients.remove(client));
        clients.add(client);
        synchronized (client) {
            client.sendComment("subscribed");
        }
    }

    public int subscribers() {
        return clients.size();
    }

    @Override
    public void transitioned(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason) {
        if (clients.isEmpty()) return;
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("vmId", vm.id());
        e.put("at", Instant.now().toString());
        e.put("from", from == null ? null : from.dbName());
        e.put("to", vm.status().dbName());
        e.put("state", StateMapping.freestyleState(vm.status()));
        e.put("op", op);
        e.put("cause", cause);
        e.put("durationMs", durationMs);
        e.put("reason", reason);
        String json;
        try {
            json = Json.MAPPER.writeValueAsString(e);
        } catch (JsonProcessingException ex) {
            return;
        }
        String id = Long.toString(sequence.incrementAndGet());
        for (SseClient c : clients) {
            if (c.terminated()) {
                clients.remove(c);
                continue;
            }
            synchronized (c) { // one writer at a time per stream
                c.sendEvent("transition", json, id);
            }
        }
    }
}
