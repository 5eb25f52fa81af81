package dev.burrow.server.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.BurrowServer;
import dev.burrow.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Snapshot and fork through the HTTP API, for each storage implementation, of a VM that has written nothing and of
 * the same VM after it wrote {@code --written-mb} of random data: the ratio between the two says whether the cost
 * grows with what the VM wrote (it must not with btrfs; overlay copies the upper dir). Fork is the SDK's
 * {@code fork(count=1)}: snapshot, create, start; the fork and its snapshot are deleted between rounds, untimed.
 */
@Command(name = "snapshot-fork", description = "Time snapshot and fork of a VM with and without written data, per storage.")
public final class SnapshotForkBench implements Callable<Integer> {
    @Option(names = {"-n", "--iterations"}, defaultValue = "10") int iterations;
    @Option(names = "--warmup", defaultValue = "2") int warmup;
    @Option(names = "--written-mb", defaultValue = "100") int writtenMb;
    @Option(names = "--image", defaultValue = "builtin:busybox") String image;
    @Option(names = "--image-dir", defaultValue = "./data/images", description = "Image cache (shared with the server).")
    Path imageDir;
    @Option(names = "--storage", split = ",", defaultValue = "btrfs,overlay", description = "Storages to measure.")
    List<String> storages;

    @Override
    public Integer call() throws Exception {
        Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
        for (String storage : storages) {
            Path work = Files.createTempDirectory(Path.of("/var/tmp"), "burrow-bench-");
            String key = "bench-" + Long.toHexString(System.nanoTime());
            var cfg = new ServerConfig("127.0.0.1", 0, work.resolve("server"), null, null, null, imageDir.toAbsolutePath(),
                    image, key, false)
                    .withStorage(new ServerConfig.Storage(storage, ServerConfig.Storage.DEFAULT_BTRFS_IMAGE_MB))
                    .withNetwork(new ServerConfig.Network(false, null, List.of(), List.of()));
            try (BurrowServer server = BurrowServer.start(cfg)) {
                System.out.println(storage + ": preparing image " + image + " (not timed)...");
                server.lifecycle().images().pullAhead(image).completion().toCompletableFuture().join();
                ApiClient c = new ApiClient(server.url(), key);
                String vm = c.post("/v1/vms", Map.of("memSizeMb", 256)).get("id").asText();
                try {
                    results.put(storage + ", 0 MiB written", measure(c, vm));
                    exec(c, vm, "dd if=/dev/urandom of=/root/written bs=1M count=" + writtenMb + " 2>/dev/null && sync");
                    results.put(storage + ", " + writtenMb + " MiB written", measure(c, vm));
                } finally {
                    c.delete("/v1/vms/" + vm);
                }
            } finally {
                CreateExecBench.deleteTree(work);
            }
        }
        report(results);
        return 0;
    }

    private Map<String, List<Double>> measure(ApiClient c, String vm) {
        Map<String, List<Double>> m = new LinkedHashMap<>();
        m.put("snapshot", new ArrayList<>());
        m.put("fork", new ArrayList<>());
        for (int i = 0; i < warmup + iterations; i++) {
            long t0 = System.nanoTime();
            String snap = c.post("/v1/vms/" + vm + "/snapshot", Map.of()).get("snapshotId").asText();
            double snapMs = (System.nanoTime() - t0) / 1e6;
            c.delete("/v1/vms/snapshots/" + snap);

            t0 = System.nanoTime();
            JsonNode fork = c.post("/v1/vms/" + vm + "/fork", Map.of("count", 1));
            double forkMs = (System.nanoTime() - t0) / 1e6;
            String child = fork.get("forks").get(0).get("id").asText();
            exec(c, child, "test -d /root"); // the fork runs
            c.delete("/v1/vms/" + child);
            for (JsonNode s : c.get("/v1/vms/snapshots").get("snapshots")) {
                if (vm.equals(s.path("sourceVmId").asText(null))) {
                    c.delete("/v1/vms/snapshots/" + s.get("snapshotId").asText());
                }
            }
            if (i >= warmup) {
                m.get("snapshot").add(snapMs);
                m.get("fork").add(forkMs);
            }
        }
        return m;
    }

    private static void exec(ApiClient c, String vm, String command) {
        JsonNode r = c.post("/v1/vms/" + vm + "/exec-await", Map.of("command", command));
        if (r.get("statusCode").asInt() != 0) throw new IllegalStateException("'" + command + "' failed in " + vm + ": " + r);
    }

    private void report(Map<String, Map<String, List<Double>>> results) {
        System.out.printf("%n%-34s %-9s %8s %8s %8s%n", "n=" + iterations, "op", "p50 ms", "p99 ms", "mean ms");
        results.forEach((label, ops) -> ops.forEach((op, v) -> System.out.printf("%-34s %-9s %8.1f %8.1f %8.1f%n", label, op,
                CreateExecBench.percentile(v, 50), CreateExecBench.percentile(v, 99), CreateExecBench.mean(v))));
        System.out.println();
        for (String storage : storages) {
            var empty = results.get(storage + ", 0 MiB written");
            var full = results.get(storage + ", " + writtenMb + " MiB written");
            if (empty == null || full == null) continue;
            for (String op : List.of("snapshot", "fork")) {
                System.out.printf("%-34s %-9s p50 ratio %d MiB / 0 MiB written: %.2f%n", storage, op, writtenMb,
                        CreateExecBench.percentile(full.get(op), 50) / CreateExecBench.percentile(empty.get(op), 50));
            }
        }
    }
}
