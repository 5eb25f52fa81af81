package dev.burrow.server;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.http.Json;

/** A real server-sent-event client over the JDK HttpClient: parses events as they arrive, can hang up at any time. */
final class SseStream implements AutoCloseable {
    record Event(String event, String id, String data) {
        JsonNode json() {
            try {
                return Json.MAPPER.readTree(data);
            } catch (IOException e) {
                throw new AssertionError("event data is not JSON: " + data, e);
            }
        }
    }

    private static final Event END = new Event("<end>", null, null);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    final int status;
    private final InputStream body;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();

    private SseStream(int status, InputStream body) {
        this.status = status;
        this.body = body;
        Thread.ofVirtual().start(this::read);
    }

    static SseStream open(TestServer srv, String path, String lastEventId) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(srv.url() + path))
                .header("Authorization", "Bearer " + TestServer.KEY).header("Accept", "text/event-stream");
        if (lastEventId != null) b.header("Last-Event-ID", lastEventId);
        HttpResponse<InputStream> r = HTTP.send(b.GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        return new SseStream(r.statusCode(), r.body());
    }

    private void read() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            String event = null;
            String id = null;
            StringBuilder data = null;
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    if (data != null) events.add(new Event(event == null ? "message" : event, id, data.toString()));
                    event = null;
                    data = null;
                } else if (line.startsWith(":")) {
                    continue;
                } else if (line.startsWith("event:")) {
                    event = line.substring(6).strip();
                } else if (line.startsWith("id:")) {
                    id = line.substring(3).strip();
                } else if (line.startsWith("data:")) {
                    String d = line.substring(5);
                    if (d.startsWith(" ")) d = d.substring(1);
                    data = data == null ? new StringBuilder(d) : data.append('\n').append(d);
                }
            }
        } catch (IOException e) {
            // hung up
        } finally {
            events.add(END);
        }
    }

    /** The next event, or null when the stream ended; fails after the timeout. */
    Event next(Duration timeout) throws InterruptedException {
        Event e = events.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (e == null) throw new AssertionError("no event within " + timeout);
        if (e == END) {
            events.add(END);
            return null;
        }
        return e;
    }

    /** Every event up to the end of the stream. */
    List<Event> rest(Duration timeout) throws InterruptedException {
        List<Event> out = new ArrayList<>();
        Event e;
        while ((e = next(timeout)) != null) out.add(e);
        return out;
    }

    @Override
    public void close() {
        try {
            body.close();
        } catch (IOException ignored) {
            // gone
        }
    }
}
