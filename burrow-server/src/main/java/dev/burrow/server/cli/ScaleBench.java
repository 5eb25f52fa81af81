package dev.burrow.server.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * N idle VMs on a running server: how fast they are created, what each costs the host (MemAvailable) and the
 * server (its RSS), how long the list takes with all of them, and that every one is deleted again. It talks to a
 * server the operator started (with {@code --max-vms} at least N); host figures are read from this machine's
 * /proc, so run it on the server's host.
 */
@Command(name = "scale", description = "Create N idle VMs against a running server, measure, delete them all.")
public final class ScaleBench implements Callable<Integer> {
    @Parameters(index = "0", description = "How many VMs.") int count;
    @Option(names = "--concurrency", defaultValue = "4", description = "Creates (and deletes) in flight at once (default ${DEFAULT-VALUE}).")
    int concurrency;
    @Option(names = "--image", defaultValue = "builtin:busybox") String image;
    @Option(names = "--mem-mb", defaultValue = "64", description = "memSizeMb of each VM (default ${DEFAULT-VALUE}, the API's minimum).")
    int memMb;
    @Option(names = "--server-pid", description = "The server's pid, for its RSS (default: the one burrow server process found in /proc).")
    Integer serverPid;
    @Option(names = "--list-samples", defaultValue = "10") int listSamples;
    @Option(names = "--max-failures", defaultValue = "20", description = "Stop creating after this many failed creates.")
    int maxFailures;
    @Option(names = "--create-for", description = "Stop starting creates after this long (ISO-8601, e.g. PT30M; default: no limit)"
            + " and measure with the VMs made so far — for a slow machine; the figures say how many.")
    java.time.Duration createFor;
    @Mixin VmCommand.Conn conn;

    @Override
    public Integer call() throws Exception {
        ApiClient client = conn.client();
        int pid = serverPid != null ? serverPid : findServerPid();
        System.out.printf("scale bench: %d VMs of %s (%d MiB, 1 vCPU), %d at a time, server pid %d%n", count, image, memMb,
                concurrency, pid);
        int before = client.get("/v1/vms").get("totalCount").asInt();
        // one VM first, untimed: the image is pulled or built once, not inside the first create's figure
        String warm = client.post("/v1/vms", body()).get("id").asText();
        client.delete("/v1/vms/" + warm);

        List<Double> listsBefore = new ArrayList<>();
        for (int i = 0; i < listSamples; i++) {
            long s = System.nanoTime();
            client.get("/v1/vms");
            listsBefore.add((System.nanoTime() - s) / 1e6);
        }
        long memBefore = memAvailableKb();
        long rssBefore = rssKb(pid);
        List<Double> creates = Collections.synchronizedList(new ArrayList<>());
        ConcurrentLinkedQueue<String> ids = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        AtomicInteger started = new AtomicInteger();
        AtomicInteger made = new AtomicInteger();
        long t0 = System.nanoTime();
        long stopAt = createFor == null ? Long.MAX_VALUE : t0 + createFor.toNanos();
        runConcurrently(() -> {
            while (started.getAndIncrement() < count && errors.size() < maxFailures && System.nanoTime() < stopAt) {
                long s = System.nanoTime();
                try {
                    ids.add(client.post("/v1/vms", body()).get("id").asText());
                    creates.add((System.nanoTime() - s) / 1e6);
                    int n = made.incrementAndGet();
                    if (n % 250 == 0) progress(n, t0, pid);
                } catch (RuntimeException e) {
                    errors.add("create #" + (ids.size() + errors.size() + 1) + ": " + e.getMessage());
                }
            }
        });
        double createSeconds = (System.nanoTime() - t0) / 1e9;
        long memAfter = memAvailableKb();
        long rssAfter = rssKb(pid);
        int created = ids.size();

        List<Double> lists = new ArrayList<>();
        int listed = -1;
        Set<String> listedIds = new HashSet<>();
        for (int i = 0; i < listSamples; i++) {
            long s = System.nanoTime();
            JsonNode l = client.get("/v1/vms");
            lists.add((System.nanoTime() - s) / 1e6);
            listed = l.get("totalCount").asInt();
            if (i == 0) l.get("vms").forEach(v -> listedIds.add(v.get("id").asText()));
        }
        int missing = (int) ids.stream().filter(id -> !listedIds.contains(id)).count();

        List<Double> deletes = Collections.synchronizedList(new ArrayList<>());
        ConcurrentLinkedQueue<String> toDelete = new ConcurrentLinkedQueue<>(ids);
        ConcurrentLinkedQueue<String> deleteErrors = new ConcurrentLinkedQueue<>();
        long d0 = System.nanoTime();
        runConcurrently(() -> {
            for (String id; (id = toDelete.poll()) != null; ) {
                long s = System.nanoTime();
                try {
                    client.delete("/v1/vms/" + id);
                    deletes.add((System.nanoTime() - s) / 1e6);
                } catch (RuntimeException e) {
                    deleteErrors.add(id + ": " + e.getMessage());
                }
            }
        });
        double deleteSeconds = (System.nanoTime() - d0) / 1e9;
        int left = client.get("/v1/vms").get("totalCount").asInt() - before;
        int stillThere = 0;
        for (String id : ids) {
            try {
                JsonNode vm = client.get("/v1/vms/" + id);
                if (!"deleted".equals(vm.path("status").asText())) stillThere++;
            } catch (ApiClient.ApiError e) {
                if (e.status != 404) stillThere++;
            }
        }

        System.out.println();
        System.out.printf("%-40s %10s%n", "scale, VMs created", created + " of " + count);
        System.out.printf("%-40s %10.1f  (%.0f s)%n", "create rate, VMs/s", created / createSeconds, createSeconds);
        if (!creates.isEmpty()) {
            System.out.printf("%-40s %10.1f%n", "create p50 ms", CreateExecBench.percentile(creates, 50));
            System.out.printf("%-40s %10.1f%n", "create p99 ms", CreateExecBench.percentile(creates, 99));
        }
        if (created > 0) {
            System.out.printf("%-40s %10.2f  (MemAvailable %d -> %d MiB)%n", "host memory per VM, MiB",
                    (memBefore - memAfter) / 1024.0 / created, memBefore / 1024, memAfter / 1024);
            System.out.printf("%-40s %10.1f  (RSS %d -> %d MiB)%n", "server RSS per VM, KiB",
                    (rssAfter - rssBefore) / (double) created, rssBefore / 1024, rssAfter / 1024);
        }
        System.out.printf("%-40s %10.1f  (totalCount %d, %d created VMs missing from the list)%n",
                "list GET /v1/vms p50 ms at " + listed, CreateExecBench.percentile(lists, 50), listed, missing);
        System.out.printf("%-40s %10.1f  (ratio %.1f)%n", "list GET /v1/vms p50 ms at " + before,
                CreateExecBench.percentile(listsBefore, 50),
                CreateExecBench.percentile(lists, 50) / CreateExecBench.percentile(listsBefore, 50));
        if (!creates.isEmpty()) {
            System.out.printf("%-40s %10.2f%n", "create p99 / p50", CreateExecBench.percentile(creates, 99)
                    / CreateExecBench.percentile(creates, 50));
        }
        System.out.printf("%-40s %10.1f  (%.0f s)%n", "delete rate, VMs/s", ids.size() / deleteSeconds, deleteSeconds);
        if (!deletes.isEmpty()) System.out.printf("%-40s %10.1f%n", "delete p50 ms", CreateExecBench.percentile(deletes, 50));
        System.out.printf("%-40s %10s%n", "left after delete (API)", left + " listed, " + stillThere + " not deleted");
        errors.stream().limit(5).forEach(e -> System.out.println("create error: " + e));
        deleteErrors.stream().limit(5).forEach(e -> System.out.println("delete error: " + e));
        if (created < count && errors.isEmpty()) System.out.println("stopped creating at the --create-for limit: " + created + " of " + count);
        boolean ok = (created == count || (createFor != null && errors.isEmpty())) && missing == 0 && listed - before == created && left == 0 && stillThere == 0
                && deleteErrors.isEmpty();
        System.out.println(ok ? "scale bench: OK" : "scale bench: FAILED");
        return ok ? 0 : 1;
    }

    /** A line while creating, so a run cut short still shows how far it got and what it cost. */
    private static void progress(int made, long t0, int pid) {
        try {
            System.out.printf("  %d created, %.0f s, MemAvailable %d MiB, server RSS %d MiB%n", made,
                    (System.nanoTime() - t0) / 1e9, memAvailableKb() / 1024, rssKb(pid) / 1024);
        } catch (IOException e) {
            System.out.printf("  %d created%n", made);
        }
    }

    private Map<String, Object> body() {
        return Map.of("image", image, "vcpuCount", 1, "memSizeMb", memMb);
    }

    private void runConcurrently(Runnable worker) throws InterruptedException {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        for (int i = 0; i < concurrency; i++) pool.submit(worker);
        pool.shutdown();
        if (!pool.awaitTermination(24, TimeUnit.HOURS)) throw new IllegalStateException("bench workers did not finish");
    }

    static long memAvailableKb() throws IOException {
        return statusField(Path.of("/proc/meminfo"), "MemAvailable:");
    }

    static long rssKb(int pid) throws IOException {
        return statusField(Path.of("/proc", Integer.toString(pid), "status"), "VmRSS:");
    }

    private static long statusField(Path file, String field) throws IOException {
        for (String line : Files.readAllLines(file)) {
            if (line.startsWith(field)) return Long.parseLong(line.substring(field.length()).strip().split("\\s+")[0]);
        }
        throw new IllegalStateException(field + " not found in " + file);
    }

    /** The one process running {@code dev.burrow.server.Main server}; several or none: ask for --server-pid. */
    static int findServerPid() throws IOException {
        List<Integer> found = new ArrayList<>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path p : procs) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
                    // the JVM itself, not a shell that started it with the same words in its command line
                    if (cmd.contains("dev.burrow.server.Main server") && Files.readString(p.resolve("comm")).strip().equals("java")) found.add(Integer.parseInt(p.getFileName().toString()));
                } catch (IOException gone) {
                    // exited while we looked
                }
            }
        }
        if (found.size() != 1) {
            throw new IllegalStateException(found.size() + " burrow server processes found " + found + "; give --server-pid");
        }
        return found.get(0);
    }
}
