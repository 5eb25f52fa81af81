package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.OciImages;
import dev.burrow.driver.runc.testing.BlobGate;
import dev.burrow.driver.runc.testing.TestRegistry;

/**
 * Pulling images over HTTP against real runc and Debian's docker-registry on loopback: a create waits visibly in
 * status 'pulling' with measured progress, creates of one image share one pull, a failed pull leaves nothing, the
 * images resource lists, refuses and deletes, the collector removes what nothing uses, and the CLI shows a bar.
 * Every server here has its own image directory: deleting and collecting must not touch the shared test cache.
 */
class ImagePullTest {
    private static final int PAYLOAD_LAYERS = 4;
    private static final int PAYLOAD_BYTES = 12 * 1024 * 1024;

    private static TestRegistry registry;
    private static Path work;
    private static Path layout;
    private static long expectedTotal;
    private static int expectedLayers;

    @BeforeAll
    static void pushImages() throws Exception {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand(TestRegistry.BINARY);
        work = Files.createTempDirectory("burrow-pull-test-");
        layout = work.resolve("oci");
        registry = TestRegistry.start();
        OciImages.buildBusyboxLayout(layout, "big");
        OciImages.addRandomLayers(layout, "big", PAYLOAD_LAYERS, PAYLOAD_BYTES);
        List<Long> sizes = OciImages.layerSizes(layout, "big");
        expectedTotal = sizes.stream().mapToLong(Long::longValue).sum();
        expectedLayers = sizes.size();
        OciImages.buildBusyboxLayout(layout, "small");
        for (String tag : List.of("big", "small")) {
            OciImages.pushToRegistry(layout, tag, registry.ref("team/" + tag + ":v1"), null);
        }
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        if (registry != null) registry.close();
        if (work != null) new ProcessBuilder("rm", "-rf", "--one-file-system", work.toString()).start().waitFor();
    }

    private static TestServer server(Path imageDir, java.util.function.UnaryOperator<ServerConfig> more) {
        return TestServer.start("builtin:busybox", null, cfg -> more.apply(cfg.toBuilder().imageDir(imageDir)
                .storage(new ServerConfig.Storage("overlay", ServerConfig.Storage.DEFAULT_BTRFS_IMAGE_MB)).build()));
    }

    @Test
    void concurrentCreatesShareOneVisiblePullWithMeasuredProgress() throws Exception {
        Path imageDir = Files.createTempDirectory(work, "images-");
        ExecutorService pool = Executors.newFixedThreadPool(3);
        // three blobs through (the config for skopeo inspect, then two of the copy's, one at least a layer: there is
        // one config), the rest held until the test has seen the pull from the outside: three VMs pulling at once
        // and a sample with some bytes but not all
        try (BlobGate gate = BlobGate.closed(registry, 3); TestServer srv = server(imageDir, c -> c)) {
            String ref = gate.ref("team/big:v1");
            List<Future<TestServer.Response>> creates = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < 3; i++) creates.add(pool.submit(() -> srv.post("/v1/vms", "{\"image\":\"" + ref + "\"}")));

            // Poll fast while the creates wait: every VM visible as pulling, with the pull's real numbers.
            List<JsonNode> samples = new ArrayList<>();
            int maxPulling = 0;
            int maxPullsOfRef = 0;
            long openAnywayAt = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (creates.stream().anyMatch(f -> !f.isDone())) {
                JsonNode list = srv.get("/v1/vms").json();
                int pulling = 0;
                for (JsonNode vm : list.get("vms")) {
                    if (!vm.get("status").asText().equals("pulling")) continue;
                    pulling++;
                    assertThat(vm.get("state").asText()).isEqualTo("starting");
                    if (vm.has("pull")) samples.add(vm.get("pull"));
                }
                maxPulling = Math.max(maxPulling, pulling);
                int pullsOfRef = 0;
                for (JsonNode p : srv.get("/v1/images").json().get("pulls")) {
                    if (p.get("image").asText().equals(ref) && !p.get("phase").asText().equals("ready")) pullsOfRef++;
                }
                maxPullsOfRef = Math.max(maxPullsOfRef, pullsOfRef);
                boolean seenMidPull = samples.stream().anyMatch(ImagePullTest::partial);
                // (after two minutes the gate opens anyway, so a broken pull fails the assertions below, not the build)
                if ((maxPulling == 3 && seenMidPull) || System.nanoTime() > openAnywayAt) gate.open();
                Thread.sleep(15);
            }
            long pullMs = (System.nanoTime() - t0) / 1_000_000;
            List<String> ids = new ArrayList<>();
            for (var f : creates) {
                var r = f.get();
                assertThat(r.status()).as(r.body()).isEqualTo(200);
                assertThat(r.json().get("state").asText()).isEqualTo("running");
                ids.add(r.json().get("id").asText());
            }
            assertThat(maxPulling).as("VMs seen in status pulling").isEqualTo(3);
            assertThat(maxPullsOfRef).as("one pull shared by the three creates").isEqualTo(1);
            List<JsonNode> measured = samples.stream().filter(s -> s.has("bytesTotal")).toList();
            assertThat(measured).as("progress samples with a total").isNotEmpty();
            for (JsonNode s : measured) {
                assertThat(s.get("image").asText()).isEqualTo(ref);
                assertThat(s.get("bytesTotal").asLong()).isEqualTo(expectedTotal);
                assertThat(s.get("layersTotal").asInt()).isEqualTo(expectedLayers);
                assertThat(s.get("bytesDone").asLong()).isBetween(0L, expectedTotal);
                assertThat(s.get("layersDone").asInt()).isBetween(0, expectedLayers);
            }
            long partial = measured.stream().filter(ImagePullTest::partial).count();
            System.out.printf("pull figures: %d bytes in %d layers, create of 3 VMs %d ms, %d samples, %d partial%n",
                    expectedTotal, expectedLayers, pullMs, measured.size(), partial);
            assertThat(measured.stream().mapToLong(s -> s.get("bytesDone").asLong()).max().orElse(-1))
                    .as("bytes fetched reach the total").isEqualTo(expectedTotal);
            assertThat(partial).as("a sample taken mid-pull").isPositive();

            // the events tell the same story: pulling, then the usual create
            JsonNode events = srv.get("/v1/vms/" + ids.get(0) + "/events").json();
            List<String> to = new ArrayList<>();
            events.path("events").forEach(e -> to.add(e.get("to").asText()));
            assertThat(to).startsWith("pulling", "creating", "running");

            // the images resource: one cached image, used by the three VMs (overlay stacks them on it)
            JsonNode image = onlyImageWithRef(srv, "team/big:v1");
            String digest = image.get("digest").asText();
            assertThat(image.get("vms").asInt()).isEqualTo(3);
            assertThat(image.get("needed").asBoolean()).isTrue();
            assertThat(image.get("sizeBytes").asLong()).isGreaterThan((long) PAYLOAD_LAYERS * PAYLOAD_BYTES);
            assertThat(srv.get("/v1/images/" + digest).json().get("digest").asText()).isEqualTo(digest);
            var refused = srv.delete("/v1/images/" + digest);
            assertThat(refused.status()).as(refused.body()).isEqualTo(409);
            assertThat(refused.json().get("error").asText()).isEqualTo("IMAGE_IN_USE");
            assertThat(imageDir.resolve(digest.replace(':', '-'))).isDirectory();

            for (String id : ids) assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
            var deleted = srv.delete("/v1/images/" + digest);
            assertThat(deleted.status()).as(deleted.body()).isEqualTo(200);
            assertThat(imageDir.resolve(digest.replace(':', '-'))).doesNotExist();
            assertThat(Files.readString(imageDir.resolve("refs.json"))).doesNotContain(digest);
            assertThat(srv.get("/v1/images/" + digest).status()).isEqualTo(404);
            assertThat(listing(imageDir.resolve(".tmp"))).isEmpty();
            for (String id : ids) assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * On btrfs a VM's root is a snapshot of the image's base subvolume, independent of it: the image shows as used
     * but not needed, deleting it is allowed and removes the unpacked tree and the base subvolume, the VM made from
     * it keeps working, and the next create pulls the image again.
     */
    @Test
    void onBtrfsAnImageUsedByAVmCanBeDeletedWithoutHarmingIt() throws Exception {
        Path imageDir = Files.createTempDirectory(work, "images-");
        try (TestServer srv = TestServer.start("builtin:busybox", null, cfg -> cfg.toBuilder().imageDir(imageDir)
                .storage(new ServerConfig.Storage("btrfs", 1024)).build())) {
            String ref = registry.ref("team/small:v1");
            String id = srv.createVm("{\"image\":\"" + ref + "\"}");
            JsonNode image = onlyImageWithRef(srv, "team/small:v1");
            String digest = image.get("digest").asText();
            assertThat(image.get("vms").asInt()).isEqualTo(1);
            assertThat(image.get("needed").asBoolean()).isFalse();
            Path base = srv.dataDir.resolve("runc").resolve("btrfs").resolve("images").resolve(digest.replace(':', '-'));
            assertThat(base).as("base subvolume").isDirectory();

            var deleted = srv.delete("/v1/images/" + digest);
            assertThat(deleted.status()).as(deleted.body()).isEqualTo(200);
            assertThat(base).doesNotExist();
            assertThat(imageDir.resolve(digest.replace(':', '-'))).doesNotExist();
            assertThat(srv.get("/v1/images/" + digest).status()).isEqualTo(404);
            var exec = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo still-here\"}").json();
            assertThat(exec.get("stdout").asText()).isEqualTo("still-here\n");

            String again = srv.createVm("{\"image\":\"" + ref + "\"}");
            assertThat(onlyImageWithRef(srv, "team/small:v1").get("digest").asText()).isEqualTo(digest);
            for (String vm : List.of(id, again)) {
                assertThat(srv.delete("/v1/vms/" + vm).status()).isEqualTo(200);
                assertThat(HostInspection.leftovers(vm, srv.dataDir, srv.server.nodeId())).isEmpty();
            }
        }
    }

    @Test
    void aFailedPullLeavesNothingAndSaysWhy() throws Exception {
        Path imageDir = Files.createTempDirectory(work, "images-");
        try (TestServer srv = server(imageDir, c -> c)) {
            var r = srv.post("/v1/vms", "{\"image\":\"" + registry.ref("team/missing:v1") + "\"}");
            assertThat(r.status()).as(r.body()).isEqualTo(404);
            assertThat(r.json().get("error").asText()).isEqualTo("IMAGE_NOT_FOUND");
            assertThat(srv.get("/v1/vms").json().get("totalCount").asInt()).isZero();
            var bad = srv.post("/v1/vms", "{\"image\":\"Not A Ref!!\"}");
            assertThat(bad.status()).as(bad.body()).isEqualTo(400);
            assertThat(listing(imageDir.resolve(".tmp"))).isEmpty();
            assertThat(listing(imageDir).stream().filter(n -> n.startsWith("sha256-"))).isEmpty();
            // the VM that waited for the pull is a deleted tombstone with the reason; nothing of it on the host
            var vms = srv.server.lifecycle().list(new dev.burrow.core.store.VmQuery(true, java.util.Map.of(), 100, 0));
            assertThat(vms).hasSize(1);
            assertThat(vms.get(0).status().dbName()).isEqualTo("deleted");
            assertThat(vms.get(0).statusReason()).contains("pulling image").contains("not found");
            assertThat(HostInspection.leftovers(vms.get(0).id(), srv.dataDir, srv.server.nodeId())).isEmpty();
        }
    }

    @Test
    void theCollectorRemovesAnUnusedImageAfterItsAgeAndKeepsAUsedOne() throws Exception {
        Path imageDir = Files.createTempDirectory(work, "images-");
        try (TestServer srv = server(imageDir,
                c -> c.withImages(new ServerConfig.Images(Duration.ofSeconds(3), Duration.ofMillis(300))))) {
            String used = registry.ref("team/small:v1");
            String id = srv.createVm("{\"image\":\"" + used + "\"}");
            var pulled = srv.post("/v1/images", "{\"image\":\"" + registry.ref("team/big:v1") + "\"}");
            assertThat(pulled.status()).as(pulled.body()).isEqualTo(202);
            String bigDigest = awaitPulled(srv, registry.ref("team/big:v1"));
            assertThat(imageDir.resolve(bigDigest.replace(':', '-'))).isDirectory();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (srv.get("/v1/images/" + bigDigest).status() == 200 && System.nanoTime() < deadline) Thread.sleep(200);
            assertThat(srv.get("/v1/images/" + bigDigest).status()).as("unused image collected").isEqualTo(404);
            assertThat(imageDir.resolve(bigDigest.replace(':', '-'))).doesNotExist();
            // older than the age too, but a VM is stacked on it
            JsonNode small = onlyImageWithRef(srv, "team/small:v1");
            assertThat(small.get("vms").asInt()).isEqualTo(1);
            var exec = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo still-here\"}").json();
            assertThat(exec.get("stdout").asText()).isEqualTo("still-here\n");
            srv.delete("/v1/vms/" + id);
            assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
        }
    }

    @Test
    void theCliShowsTheBarWhileCreateWaitsForThePull() throws Exception {
        Path imageDir = Files.createTempDirectory(work, "images-");
        String total = "/" + String.format(java.util.Locale.ROOT, "%.1f MB", expectedTotal / 1_000_000.0);
        try (BlobGate gate = BlobGate.closed(registry, 1); TestServer srv = server(imageDir, c -> c)) {
            String ref = gate.ref("team/big:v1");
            Path err = work.resolve("cli-" + System.nanoTime() + ".err");
            String javaBin = ProcessHandle.current().info().command().orElse("java");
            Process p = new ProcessBuilder(javaBin, "-cp", System.getProperty("java.class.path"), "dev.burrow.server.Main",
                    "vm", "create", "--url", srv.url(), "--api-key", TestServer.KEY, "--image", ref)
                    .redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.PIPE).start();
            // the config passes (skopeo inspect reads it to resolve the digest and the total); the copy is held
            // until the bar has shown the pull with its measured total
            await().atMost(Duration.ofMinutes(2)).until(() -> {
                String shown = Files.readString(err);
                return shown.contains("pulling " + ref) && shown.contains(total) || !p.isAlive();
            });
            gate.open();
            String out = new String(p.getInputStream().readAllBytes()).strip();
            assertThat(p.waitFor()).as(Files.readString(err)).isZero();
            assertThat(out).matches("[a-z0-9]{20}");
            String bar = Files.readString(err);
            // not a terminal: plain lines, one per phase at least, with the measured total
            assertThat(bar).contains("pulling " + ref).contains(total).contains("layers ").contains("[").doesNotContain("\r");
            assertThat(srv.delete("/v1/vms/" + out).status()).isEqualTo(200);
        }
    }

    @Test
    void onATerminalTheBarIsOneLineRedrawnWithCarriageReturns() throws Exception {
        HostRequirements.requireCommand("script");
        Path imageDir = Files.createTempDirectory(work, "images-");
        try (BlobGate gate = BlobGate.closed(registry, 1); TestServer srv = server(imageDir, c -> c)) {
            String ref = gate.ref("team/big:v1");
            String javaBin = ProcessHandle.current().info().command().orElse("java");
            Path cp = work.resolve("cp-" + System.nanoTime());
            Files.writeString(cp, System.getProperty("java.class.path"));
            Path typescript = work.resolve("tty-" + System.nanoTime() + ".out");
            // script(1) gives the CLI a pseudo-terminal for its stdio, as an interactive shell would
            String cmd = String.join(" ", javaBin, "-cp", "\"$(cat " + cp + ")\"", "dev.burrow.server.Main", "vm", "create",
                    "--url", srv.url(), "--api-key", TestServer.KEY, "--image", ref);
            Process p = new ProcessBuilder("script", "-qefc", cmd, typescript.toString())
                    .redirectErrorStream(true).redirectOutput(work.resolve("script-" + System.nanoTime() + ".log").toFile())
                    .start();
            // the layers are held until the terminal has shown the bar (script -f flushes every write)
            await().atMost(Duration.ofMinutes(2)).until(() -> !p.isAlive() || Files.exists(typescript)
                    && Files.readString(typescript).contains("\rpulling " + ref) && Files.readString(typescript).contains("%"));
            gate.open();
            assertThat(p.waitFor()).isZero();
            String shown = Files.readString(typescript);
            assertThat(shown).contains("\rpulling " + ref).contains("%").containsPattern("[a-z0-9]{20}");
            String id = java.util.regex.Pattern.compile("\\b[a-z0-9]{20}\\b").matcher(shown).results()
                    .map(java.util.regex.MatchResult::group).reduce((x, y) -> y).orElseThrow();
            assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
        }
    }

    @Test
    void aCrashWhilePullingIsRolledBackAtRestart() throws Exception {
        Path dir = Files.createTempDirectory(work, "crash-");
        String ref = registry.ref("team/small:v1");
        String node;
        try (ServerProcess s1 = ServerProcess.start(dir.resolve("data"), java.util.Map.of("BURROW_FAILPOINT", "create.pulling"))) {
            node = Files.readString(dir.resolve("data/node-id")).strip();
            var r = s1.call("POST", "/v1/vms", "{\"image\":\"" + ref + "\"}");
            assertThat(r.status()).as("the request must die with the server: " + r).isEqualTo(-1);
            assertThat(s1.awaitExit(Duration.ofSeconds(30))).isEqualTo(137);
        }
        try (ServerProcess s2 = ServerProcess.start(dir.resolve("data"), java.util.Map.of())) {
            var all = s2.call("GET", "/v1/vms?includeDeleted=true", null).json().get("vms");
            assertThat(all).hasSize(1);
            assertThat(all.get(0).get("status").asText()).isEqualTo("deleted");
            assertThat(all.get(0).get("statusReason").asText()).contains("pulling");
            String id = all.get(0).get("id").asText();
            var events = s2.call("GET", "/v1/vms/" + id + "/events", null);
            assertThat(HostInspection.leftovers(id, dir.resolve("data"), node)).isEmpty();
            assertThat(s2.call("GET", "/v1/vms", null).json().get("totalCount").asInt()).isZero();
            assertThat(events.status()).isEqualTo(404);
        }
    }

    private static boolean partial(JsonNode sample) {
        long done = sample.path("bytesDone").asLong(-1);
        return sample.has("bytesTotal") && done > 0 && done < expectedTotal;
    }

    private static String awaitPulled(TestServer srv, String ref) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (System.nanoTime() < deadline) {
            for (JsonNode p : srv.get("/v1/images").json().get("pulls")) {
                if (p.get("image").asText().equals(ref) && p.get("phase").asText().equals("ready")) {
                    return p.get("digest").asText();
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("pull of " + ref + " did not finish");
    }

    private static JsonNode onlyImageWithRef(TestServer srv, String suffix) {
        List<JsonNode> found = new ArrayList<>();
        for (JsonNode i : srv.get("/v1/images").json().get("images")) {
            for (JsonNode r : i.get("refs")) if (r.asText().endsWith(suffix)) found.add(i);
        }
        assertThat(found).as("images with a ref ending in " + suffix).hasSize(1);
        return found.get(0);
    }

    private static List<String> listing(Path dir) throws java.io.IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }
}
