package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import dev.burrow.server.http.Json;

/**
 * File bodies are streamed: a server in its own JVM with a 128 MiB heap moves eight 48 MiB files at once each way,
 * in the SDK's JSON/base64 shape and raw. Buffered whole, one such read alone took ~250 MiB of heap (the bytes, their
 * base64 string, the serialized JSON), so the heap bound proves the memory per transfer is bounded without timing
 * anything: a server that buffered would fail with OutOfMemoryError (and exit, -XX:+ExitOnOutOfMemoryError).
 */
class FileStreamingTest {
    private static final int MIB = 1024 * 1024;
    private static final int SIZE = 48 * MIB;
    private static final int PARALLEL = 8;
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @Test
    void eightConcurrent48MiBTransfersEachWayFitIn128MiBOfServerHeap() throws Exception {
        Path dir = Files.createTempDirectory("burrow-stream-");
        Path data = dir.resolve("data");
        Path file = dir.resolve("payload.bin");
        Path json = dir.resolve("payload.json");
        String sha = writePayload(file, json);
        try {
            try (ServerProcess srv = ServerProcess.start(data, Map.of(),
                    List.of("-Xmx128m", "-XX:+ExitOnOutOfMemoryError"))) {
                var created = srv.call("POST", "/v1/vms", "{\"memSizeMb\":256}");
                assertThat(created.status()).as(created.body()).isEqualTo(200);
                String vm = created.json().get("id").asText();
                String files = srv.url() + "/v1/vms/" + vm + "/files/";

                // writes: the SDK's shape (content before encoding), and raw bytes
                List<Future<Integer>> writes = new ArrayList<>();
                ExecutorService pool = Executors.newFixedThreadPool(PARALLEL);
                for (int i = 0; i < PARALLEL; i++) {
                    boolean raw = i % 2 == 1;
                    String path = "%2Ftmp%2Fup-" + i + ".bin";
                    writes.add(pool.submit(() -> HTTP.send(request(files + path)
                                    .header("Content-Type", raw ? "application/octet-stream" : "application/json")
                                    .PUT(HttpRequest.BodyPublishers.ofFile(raw ? file : json)).build(),
                            HttpResponse.BodyHandlers.discarding()).statusCode()));
                }
                for (var w : writes) assertThat(w.get()).as(srv.tail()).isEqualTo(200);
                var sums = srv.call("POST", "/v1/vms/" + vm + "/exec-await",
                        "{\"command\":\"sha256sum /tmp/up-*.bin | cut -d' ' -f1 | sort -u\"}");
                assertThat(sums.json().get("stdout").asText().strip()).as("every uploaded file is the payload").isEqualTo(sha);

                // reads: JSON/base64 and raw, all at once
                List<Future<String>> reads = new ArrayList<>();
                for (int i = 0; i < PARALLEL; i++) {
                    boolean raw = i % 2 == 1;
                    String path = "%2Ftmp%2Fup-" + i + ".bin";
                    reads.add(pool.submit(() -> raw ? readRaw(files + path) : readJson(files + path)));
                }
                for (var r : reads) assertThat(r.get()).as(srv.tail()).isEqualTo(sha);
                pool.shutdown();
                assertThat(srv.process.isAlive()).as("the server survived: " + srv.tail()).isTrue();
                assertThat(srv.call("DELETE", "/v1/vms/" + vm, null).status()).isEqualTo(200);
            }
        } finally {
            // whatever the test left (a VM, the btrfs image) goes with an in-process server on the same data dir
            if (Files.exists(data)) TestServer.start("builtin:busybox", data).close();
            try (var s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** A random payload and its SDK-shaped JSON body (content first, as the vendor SDK sends it); its SHA-256. */
    private static String writePayload(Path file, Path json) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        Random random = new Random(42);
        byte[] chunk = new byte[3 * MIB];
        try (OutputStream raw = new DigestOutputStream(Files.newOutputStream(file), md);
             OutputStream js = Files.newOutputStream(json)) {
            js.write("{\"content\":\"".getBytes(StandardCharsets.US_ASCII));
            for (int done = 0; done < SIZE; done += chunk.length) {
                random.nextBytes(chunk);
                raw.write(chunk);
                js.write(Base64.getEncoder().encode(chunk));
            }
            js.write("\",\"encoding\":\"base64\"}".getBytes(StandardCharsets.US_ASCII));
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static HttpRequest.Builder request(String url) {
        return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(10))
                .header("Authorization", "Bearer " + TestServer.KEY);
    }

    private static String readRaw(String url) throws Exception {
        HttpResponse<InputStream> r = HTTP.send(request(url).header("Accept", "application/octet-stream").GET().build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValueAsLong("Content-Length")).hasValue(SIZE);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = r.body(); OutputStream out = new DigestOutputStream(OutputStream.nullOutputStream(), md)) {
            in.transferTo(out);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Parses {content, encoding} as a stream, decoding the base64 straight into a digest. */
    private static String readJson(String url) throws Exception {
        HttpResponse<InputStream> r = HTTP.send(request(url).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        String encoding = null;
        try (JsonParser p = Json.MAPPER.getFactory().createParser(r.body());
             OutputStream out = new DigestOutputStream(OutputStream.nullOutputStream(), md)) {
            assertThat(p.nextToken()).isEqualTo(JsonToken.START_OBJECT);
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals("content")) p.readBinaryValue(out);
                else if (name.equals("encoding")) encoding = p.getText();
            }
        }
        assertThat(encoding).isEqualTo("base64");
        return HexFormat.of().formatHex(md.digest());
    }
}
