package dev.burrow.server.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.driver.runc.RawRuncBaseline;
import dev.burrow.server.BurrowServer;
import dev.burrow.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * N x (create a VM + exec {@code true} + delete) through Burrow's HTTP API, against N x (runc run -d +
 * runc exec true + runc delete -f) on an identical bundle (same config.json generator, same image),
 * interleaved so both see the same machine load. Prints p50/p99 for each and their ratios.
 */
@Command(name = "create-exec", description = "Time create+exec+delete through the API against raw runc.")
public final class CreateExecBench implements Callable<Integer> {
    @Option(names = {"-n", "--iterations"}, defaultValue = "30") int iterations;
    @Option(names = "--warmup", defaultValue = "3") int warmup;
    @Option(names = "--image", defaultValue = "builtin:busybox") String image;
    @Option(names = "--image-dir", defaultValue = "./data/images", description = "Image cache (shared with the server).")
    Path imageDir;
    @Option(names = "--vm-network", defaultValue = "on",
            description = "on: VMs get the full VM network (bridge, veth, nftables, DNS); off: loopback only, to measure its cost.")
    String vmNetwork;

    @Override
    public Integer call() throws Exception {
        Path work = Files.createTempDirectory(Path.of("/var/tmp"), "burrow-bench-");
        String key = "bench-" + Long.toHexString(System.nanoTime());
        var cfg = new ServerConfig("127.0.0.1", 0, work.resolve("server"), null, null, null, imageDir.toAbsolutePath(),
                image, key, false).withNetwork(new ServerConfig.Network(!"off".equals(vmNetwork), null, List.of(), List.of()));
        List<Double> api = new ArrayList<>();
        List<Double> raw = new ArrayList<>();
        try (BurrowServer server = BurrowServer.start(cfg)) {
            System.out.println("preparing image " + image + " (not timed)...");
            server.lifecycle().images().pullAhead(image).completion().toCompletableFuture().join();
            ApiClient client = new ApiClient(server.url(), key);
            RawRuncBaseline rawRunc = new RawRuncBaseline(work.resolve("raw"), imageDir.toAbsolutePath(), image);
            try {
                for (int i = 0; i < warmup; i++) {
                    apiOnce(client);
                    rawRunc.once(i);
                }
                for (int i = 0; i < iterations; i++) {
                    api.add(apiOnce(client));
                    raw.add(rawRunc.once(warmup + i));
                }
            } finally {
                rawRunc.close();
            }
        } finally {
            deleteTree(work);
        }
        report(api, raw);
        return 0;
    }

    private static double apiOnce(ApiClient c) {
        long t0 = System.nanoTime();
        JsonNode vm = c.post("/v1/vms", Map.of("vcpuCount", 1, "memSizeMb", 256));
        String id = vm.get("id").asText();
        JsonNode r = c.post("/v1/vms/" + id + "/exec-await", Map.of("command", "true"));
        if (r.get("statusCode").asInt() != 0) throw new IllegalStateException("exec failed: " + r);
        c.delete("/v1/vms/" + id);
        return (System.nanoTime() - t0) / 1e6;
    }

    static void report(List<Double> api, List<Double> raw) {
        double a50 = percentile(api, 50), a99 = percentile(api, 99);
        double r50 = percentile(raw, 50), r99 = percentile(raw, 99);
        System.out.printf("%n%-44s %8s %8s %8s%n", "create+exec(true)+delete, n=" + api.size(), "p50 ms", "p99 ms", "mean ms");
        System.out.printf("%-44s %8.1f %8.1f %8.1f%n", "Burrow HTTP API", a50, a99, mean(api));
        System.out.printf("%-44s %8.1f %8.1f %8.1f%n", "raw runc (run -d, exec, delete -f)", r50, r99, mean(raw));
        System.out.printf("%-44s %8.2f %8.2f%n", "ratio Burrow / raw", a50 / r50, a99 / r99);
    }

    static double percentile(List<Double> values, int p) {
        List<Double> s = new ArrayList<>(values);
        Collections.sort(s);
        int rank = (int) Math.ceil(p / 100.0 * s.size());
        return s.get(Math.max(0, Math.min(s.size() - 1, rank - 1)));
    }

    static double mean(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).average().orElse(0);
    }

    static void deleteTree(Path dir) {
        // The server and the raw runner have released their mounts; refuse to delete through a live one.
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                if (line.contains(dir.toString())) {
                    System.err.println("bench: not deleting " + dir + ", something is still mounted under it");
                    return;
                }
            }
        } catch (java.io.IOException ignored) {
            return;
        }
        RawRuncBaseline.deleteTree(dir);
    }
}
