package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.loop.StorageEvictor;
import dev.burrow.server.template.TemplateBuilds;

/**
 * Snapshot persistence (sticky with priority, persistent), PATCH, storage-pressure eviction of unused sticky
 * snapshots after sticky VMs, and snapshots built from templates and Dockerfiles with their cache, over HTTP against
 * the real runc driver. Nothing is left on the host: build VMs are deleted also when a build fails.
 */
class SnapshotTemplateTest {
    static TestServer srv;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    static String sh(String vmId, String command) {
        var r = srv.post("/v1/vms/" + vmId + "/exec-await", json(Map.of("command", command)));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.json().get("statusCode").asInt()).as(r.body()).isZero();
        return r.json().get("stdout").asText();
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode listed(String sid) {
        for (JsonNode s : srv.get("/v1/vms/snapshots").json().get("snapshots")) {
            if (s.get("snapshotId").asText().equals(sid)) return s;
        }
        return null;
    }

    static String snapshotOf(String vm, String body) {
        var r = srv.post("/v1/vms/" + vm + "/snapshot", body);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("snapshotId").asText();
    }

    /** Build VMs this server made (also deleted ones): none may be left running or on the host. */
    static void assertBuildVmsGone() {
        var all = srv.get("/v1/vms?includeDeleted=true&label." + TemplateBuilds.BUILD_LABEL + "=template").json().get("vms");
        var docker = srv.get("/v1/vms?includeDeleted=true&label." + TemplateBuilds.BUILD_LABEL + "=dockerfile").json().get("vms");
        List<JsonNode> vms = new ArrayList<>();
        all.forEach(vms::add);
        docker.forEach(vms::add);
        for (JsonNode vm : vms) {
            String id = vm.get("id").asText();
            assertThat(srv.get("/v1/vms/" + id).status()).as("build VM " + id).isEqualTo(404);
            assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).as("host after " + id).isEmpty();
        }
    }

    @Test
    void snapshotPersistenceIsStoredShownAndPatchable() {
        String vm = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":128}");
        String dflt = snapshotOf(vm, "{}");
        String low = snapshotOf(vm, "{\"name\":\"low\",\"persistence\":{\"type\":\"sticky\",\"priority\":2}}");
        String keep = snapshotOf(vm, "{\"persistence\":{\"type\":\"persistent\"}}");
        assertThat(listed(dflt).get("snapshotPersistence")).isEqualTo(JSON.valueToTree(Map.of("type", "sticky", "priority", 5)));
        assertThat(listed(low).get("snapshotPersistence")).isEqualTo(JSON.valueToTree(Map.of("type", "sticky", "priority", 2)));
        assertThat(listed(keep).get("snapshotPersistence")).isEqualTo(JSON.valueToTree(Map.of("type", "persistent")));
        JsonNode info = listed(low);
        assertThat(info.get("failed").asBoolean()).isFalse();
        assertThat(info.get("deleted").asBoolean()).isFalse();
        assertThat(info.get("vcpuCount").asInt()).isEqualTo(1);
        assertThat(info.get("memSizeMib").asInt()).isEqualTo(128);
        assertThat(info.get("name").asText()).isEqualTo("low");

        // refused: ephemeral, priority out of range, priority on persistent; nothing is made
        int before = srv.get("/v1/vms/snapshots").json().get("totalCount").asInt();
        for (String bad : List.of("{\"persistence\":{\"type\":\"ephemeral\"}}", "{\"persistence\":{\"type\":\"sticky\",\"priority\":11}}",
                "{\"persistence\":{\"type\":\"persistent\",\"priority\":3}}", "{\"persistence\":{\"type\":\"forever\"}}")) {
            var r = srv.post("/v1/vms/" + vm + "/snapshot", bad);
            assertThat(r.status()).as(bad + " " + r.body()).isEqualTo(400);
            assertThat(r.json().get("error").asText()).isNotBlank();
        }
        assertThat(srv.get("/v1/vms/snapshots").json().get("totalCount").asInt()).isEqualTo(before);

        // PATCH: rename (the SDK's shape), then persistence, then clear the name
        var p = srv.call("PATCH", "/v1/vms/snapshots/" + low, "{\"name\":\"renamed\"}");
        assertThat(p.status()).as(p.body()).isEqualTo(200);
        assertThat(p.json().get("snapshot_id").asText()).isEqualTo(low);
        assertThat(p.json().get("name").asText()).isEqualTo("renamed");
        assertThat(listed(low).get("snapshotPersistence").get("priority").asInt()).as("name-only patch keeps persistence").isEqualTo(2);
        p = srv.call("PATCH", "/v1/vms/snapshots/" + low, "{\"persistence\":{\"type\":\"persistent\"}}");
        assertThat(p.status()).as(p.body()).isEqualTo(200);
        assertThat(listed(low).get("snapshotPersistence").get("type").asText()).isEqualTo("persistent");
        assertThat(listed(low).get("name").asText()).as("persistence-only patch keeps the name").isEqualTo("renamed");
        p = srv.call("PATCH", "/v1/vms/snapshots/" + low, "{\"name\":null,\"persistence\":{\"type\":\"sticky\",\"priority\":7}}");
        assertThat(p.status()).as(p.body()).isEqualTo(200);
        assertThat(listed(low).get("name").isNull()).isTrue();
        assertThat(listed(low).get("snapshotPersistence").get("priority").asInt()).isEqualTo(7);
        assertThat(srv.call("PATCH", "/v1/vms/snapshots/" + low, "{\"persistence\":{\"type\":\"sticky\",\"priority\":-1}}").status()).isEqualTo(400);
        assertThat(srv.call("PATCH", "/v1/vms/snapshots/" + low, "{\"name\":\"\"}").status()).isEqualTo(400);
        assertThat(srv.call("PATCH", "/v1/vms/snapshots/" + low, "[1]").status()).isEqualTo(400);
        assertThat(srv.call("PATCH", "/v1/vms/snapshots/sc-" + "z".repeat(20), "{\"name\":\"x\"}").status()).isEqualTo(404);
        assertThat(srv.call("PATCH", "/v1/vms/snapshots/nope", "{\"name\":\"x\"}").status()).isEqualTo(400);
        assertThat(listed(low).get("snapshotPersistence").get("priority").asInt()).as("refused patches change nothing").isEqualTo(7);

        assertThat(srv.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        for (String s : List.of(dflt, low, keep)) assertThat(srv.delete("/v1/vms/snapshots/" + s).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(vm, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    /**
     * Storage pressure: stopped sticky VMs go first (whatever their priority), then sticky snapshots no VM was made
     * from, lowest priority first; a snapshot in use and a persistent one stay. The real evictor runs once, at a
     * moment the test chooses, against the real driver's disk usage.
     */
    @Test
    void storagePressureEvictsStickyVmsThenUnusedStickySnapshotsByPriority() {
        // a snapshot with (almost) nothing of its own, in use by a VM
        String src = srv.createVm("{}");
        String used = snapshotOf(src, "{\"persistence\":{\"type\":\"sticky\",\"priority\":0}}");
        String user = srv.createVm("{\"snapshotId\":\"" + used + "\"}");
        assertThat(srv.delete("/v1/vms/" + src).status()).isEqualTo(200);
        // a stopped sticky VM of the highest priority with 10 MiB of its own
        String stoppedVm = srv.createVm("{\"persistence\":{\"type\":\"sticky\",\"priority\":10}}");
        sh(stoppedVm, "dd if=/dev/urandom of=/root/blob bs=1M count=10 2>/dev/null && sync");
        assertThat(srv.post("/v1/vms/" + stoppedVm + "/stop", null).status()).isEqualTo(200);
        // three snapshots of 10 MiB each whose source VMs are gone
        List<String> made = new ArrayList<>();
        for (String persistence : List.of("{\"type\":\"sticky\",\"priority\":1}", "{\"type\":\"sticky\",\"priority\":9}",
                "{\"type\":\"persistent\"}")) {
            String vm = srv.createVm("{}");
            sh(vm, "dd if=/dev/urandom of=/root/blob bs=1M count=10 2>/dev/null && sync");
            made.add(snapshotOf(vm, "{\"persistence\":" + persistence + "}"));
            assertThat(srv.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        }
        String low = made.get(0), high = made.get(1), persistent = made.get(2);
        var driver = srv.server.driver();
        for (String s : made) assertThat(driver.snapshots().orElseThrow().snapshotUsageBytes(s)).as("usage of " + s).isGreaterThanOrEqualTo(10L << 20);
        assertThat(driver.snapshots().orElseThrow().snapshotUsageBytes(used)).isLessThan(2L << 20);

        // ~40 MiB against a 25 MiB quota: the VM (10) and the priority-1 snapshot (10) go, then it fits — but snapshots
        // made moments ago are in their grace (a create may be about to use them), so first only the VM goes
        var store = new dev.burrow.store.SqlVmStore(srv.server.database());
        var evictor = new StorageEvictor(store, store, srv.server.lifecycle(), java.time.Duration.ofHours(1), 25L << 20);
        evictor.runOnce(Instant.now());
        assertThat(srv.get("/v1/vms/" + stoppedVm).status()).as("sticky VM evicted first").isEqualTo(404);
        assertThat(listed(low)).as("a fresh snapshot is in its grace").isNotNull();
        Instant later = Instant.now().plus(StorageEvictor.SNAPSHOT_GRACE).plusSeconds(60);
        evictor.runOnce(later);
        assertThat(listed(low)).as("lowest-priority unused sticky snapshot evicted").isNull();
        assertThat(listed(high)).as("priority 9 kept: the disk fits again").isNotNull();
        assertThat(listed(persistent)).isNotNull();
        assertThat(listed(used)).as("a snapshot in use is never evicted").isNotNull();

        // far over any quota: still never the persistent snapshot nor the one in use
        new StorageEvictor(store, store, srv.server.lifecycle(), java.time.Duration.ofHours(1), 1)
                .runOnce(later);
        assertThat(listed(high)).isNull();
        assertThat(listed(persistent)).isNotNull();
        assertThat(listed(used)).isNotNull();
        assertThat(srv.get("/v1/vms/" + user).json().get("status").asText()).isEqualTo("running");

        assertThat(srv.delete("/v1/vms/" + user).status()).isEqualTo(200);
        assertThat(srv.delete("/v1/vms/snapshots/" + used).status()).isEqualTo(200);
        assertThat(srv.delete("/v1/vms/snapshots/" + persistent).status()).isEqualTo(200);
        for (String id : List.of(src, user, stoppedVm)) {
            assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).as("host after " + id).isEmpty();
        }
    }

    @Test
    void aTemplateIsBuiltOnceCachedAndRebuiltOnlyWithSkipCache() throws Exception {
        Map<String, Object> template = Map.of(
                "env", Map.of("FROM_TEMPLATE", "yes"),
                "workdir", "/srv",
                "additionalFiles", Map.of("/srv/hello.txt", Map.of("content", "hello from the template")),
                "discriminator", "t-" + System.nanoTime());
        var r = srv.post("/v1/vms/snapshots", json(Map.of("name", "tpl", "template", template,
                "persistence", Map.of("type", "sticky", "priority", 3))));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        String sid = r.json().get("snapshotId").asText();
        assertThat(sid).matches("sc-[a-z0-9]{20}");
        assertThat(r.json().get("built").asBoolean()).isTrue();
        JsonNode info = listed(sid);
        assertThat(info.get("name").asText()).isEqualTo("tpl");
        assertThat(info.get("snapshotPersistence").get("priority").asInt()).isEqualTo(3);
        assertThat(info.get("templateHash").asText()).hasSize(64);
        assertBuildVmsGone();

        // a VM from it has the file, and the template's env and workdir
        String vm = srv.createVm("{\"snapshotId\":\"" + sid + "\"}");
        assertThat(sh(vm, "cat hello.txt; echo; echo $FROM_TEMPLATE; pwd")).isEqualTo("hello from the template\nyes\n/srv\n");
        assertThat(srv.delete("/v1/vms/" + vm).status()).isEqualTo(200);

        // the same template (keys in another order) is the cached snapshot; another discriminator is another one
        Map<String, Object> reordered = new java.util.TreeMap<>(Collections.reverseOrder());
        reordered.putAll(template);
        var again = srv.post("/v1/vms/snapshots", json(Map.of("template", reordered)));
        assertThat(again.json().get("snapshotId").asText()).isEqualTo(sid);
        assertThat(again.json().get("built").asBoolean()).isFalse();
        Map<String, Object> other = new java.util.HashMap<>(template);
        other.put("discriminator", "other-" + System.nanoTime());
        var otherSnap = srv.post("/v1/vms/snapshots", json(Map.of("template", other)));
        assertThat(otherSnap.status()).as(otherSnap.body()).isEqualTo(200);
        assertThat(otherSnap.json().get("snapshotId").asText()).isNotEqualTo(sid);

        // skipCache rebuilds, and the rebuilt snapshot is the cache entry from then on
        Map<String, Object> skip = new java.util.HashMap<>(template);
        skip.put("skipCache", true);
        var rebuilt = srv.post("/v1/vms/snapshots", json(Map.of("template", skip)));
        assertThat(rebuilt.json().get("built").asBoolean()).isTrue();
        String sid2 = rebuilt.json().get("snapshotId").asText();
        assertThat(sid2).isNotEqualTo(sid);
        assertThat(srv.post("/v1/vms/snapshots", json(Map.of("template", template))).json().get("snapshotId").asText()).isEqualTo(sid2);

        // concurrent identical requests build once
        Map<String, Object> fresh = new java.util.HashMap<>(template);
        fresh.put("discriminator", "concurrent-" + System.nanoTime());
        List<Callable<JsonNode>> calls = new ArrayList<>();
        for (int i = 0; i < 3; i++) calls.add(() -> srv.post("/v1/vms/snapshots", json(Map.of("template", fresh))).json());
        List<JsonNode> answers = new ArrayList<>();
        try (var pool = Executors.newFixedThreadPool(3)) {
            for (Future<JsonNode> f : pool.invokeAll(calls)) answers.add(f.get());
        }
        assertThat(answers).extracting(a -> a.get("snapshotId").asText()).as(answers.toString()).containsOnly(answers.get(0).get("snapshotId").asText());
        assertThat(answers).filteredOn(a -> a.get("built").asBoolean()).hasSize(1);
        String concurrent = answers.get(0).get("snapshotId").asText();
        assertBuildVmsGone();

        for (String s : List.of(sid, sid2, otherSnap.json().get("snapshotId").asText(), concurrent)) {
            assertThat(srv.delete("/v1/vms/snapshots/" + s).status()).isEqualTo(200);
        }
        assertThat(HostInspection.leftovers(vm, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    @Test
    void aFailedTemplateBuildIsA400RecordedAsFailedAndLeavesNothing() {
        int vmsBefore = srv.get("/v1/vms").json().get("vms").size();
        // a template that is valid but cannot be built: its snapshot does not exist
        String missing = "sc-" + "q".repeat(20);
        var r = srv.post("/v1/vms/snapshots", json(Map.of("name", "broken", "template", Map.of("snapshotId", missing,
                "discriminator", "fail-" + System.nanoTime()))));
        assertThat(r.status()).as(r.body()).isEqualTo(400);
        assertThat(r.json().get("error").asText()).isEqualTo("SNAPSHOT_BUILD_FAILED");
        assertThat(r.json().get("message").asText()).contains(missing);
        var list = srv.get("/v1/vms/snapshots").json();
        JsonNode failed = null;
        for (JsonNode s : list.get("snapshots")) if ("broken".equals(s.path("name").asText())) failed = s;
        assertThat(failed).as(list.toString()).isNotNull();
        assertThat(failed.get("failed").asBoolean()).isTrue();
        assertThat(failed.get("failureReason").asText()).contains(missing);
        assertThat(list.get("failedCount").asInt()).isGreaterThanOrEqualTo(1);
        // a failed snapshot is not created from, and deletes like any other
        var create = srv.post("/v1/vms", "{\"snapshotId\":\"" + failed.get("snapshotId").asText() + "\"}");
        assertThat(create.status()).as(create.body()).isEqualTo(400);
        assertThat(create.json().get("error").asText()).isEqualTo("SNAPSHOT_FAILED");
        assertThat(srv.delete("/v1/vms/snapshots/" + failed.get("snapshotId").asText()).status()).isEqualTo(200);

        // bad input: nothing is built nor recorded
        int total = srv.get("/v1/vms/snapshots").json().get("totalCount").asInt();
        for (String bad : List.of("{}", "{\"template\":{\"vcpuCount\":999}}", "{\"template\":{\"workdir\":\"rel\"}}",
                "{\"template\":{\"baseImage\":{\"dockerfileContent\":\"FROM builtin:busybox\\nCOPY a /a\"}}}",
                "{\"template\":{\"baseImage\":\"FROM x\"}}", "{\"name\":\"\",\"template\":{}}",
                "{\"template\":{},\"persistence\":{\"type\":\"ephemeral\"}}")) {
            var b = srv.post("/v1/vms/snapshots", bad);
            assertThat(b.status()).as(bad + " " + b.body()).isEqualTo(400);
        }
        assertThat(srv.get("/v1/vms/snapshots").json().get("totalCount").asInt()).isEqualTo(total);
        assertThat(srv.get("/v1/vms").json().get("vms").size()).isEqualTo(vmsBefore);
        assertBuildVmsGone();
    }

    static final String DOCKERFILE = """
            # a comment
            FROM builtin:busybox
            ARG GREETING=hello
            ENV APP_HOME=/opt/app \\
                PATH=/opt/app/bin:$PATH
            WORKDIR $APP_HOME
            RUN mkdir -p bin && echo "$GREETING world" > greeting.txt \\
             && printf '#!/bin/sh\\necho tool-ran\\n' > bin/tool && chmod +x bin/tool
            RUN <<'FREESTYLE_EOF'
            echo "heredoc $GREETING" > /opt/app/heredoc.txt
            FREESTYLE_EOF
            RUN echo 'builder:x:1000:1000::/home/builder:/bin/sh' >> /etc/passwd \\
             && echo 'builder:x:1000:' >> /etc/group && mkdir -p /home/builder && chown 1000:1000 /home/builder
            LABEL org.example.name="demo"
            EXPOSE 8080
            CMD ["sh"]
            USER builder
            WORKDIR /home/builder
            RUN id -u > built-as && pwd > built-in
            """;

    @Test
    void aDockerfileBaseImageIsBuiltIntoACachedSnapshotThatCarriesEnvWorkdirAndUser() {
        String dockerfile = DOCKERFILE + "ENV MARK=" + System.nanoTime() + "\n";
        String body = json(Map.of("template", Map.of("baseImage", Map.of("dockerfileContent", dockerfile),
                "additionalFiles", Map.of("/tmp/extra.txt", Map.of("content", "extra")))));
        long t0 = System.nanoTime();
        var r = srv.post("/v1/vms", body);
        long buildMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        String vm = r.json().get("id").asText();
        // ENV (with $PATH expanded from the image's), WORKDIR and USER carry into the VM; RUN steps ran as USER in
        // WORKDIR with ENV and ARG
        String out = sh(vm, "echo $APP_HOME; pwd; whoami; cat /opt/app/greeting.txt /opt/app/heredoc.txt built-as built-in; "
                + "tool; cat /tmp/extra.txt; echo; echo $GREETING.");
        assertThat(out).isEqualTo("/opt/app\n/home/builder\nbuilder\nhello world\nheredoc hello\n1000\n/home/builder\ntool-ran\nextra\n.\n");
        // the process API too runs as the snapshot's USER when the request names none; a named user still wins
        for (var c : List.of(Map.of("command", "whoami"), Map.of("command", "whoami", "user", "root"))) {
            var started = srv.post("/v1/vms/" + vm + "/processes", json(c));
            assertThat(started.status()).as(started.body()).isEqualTo(200);
            String pbase = "/v1/vms/" + vm + "/processes/" + started.json().get("id").asText();
            assertThat(srv.post(pbase + "/wait?timeoutMs=20000", null).status()).isEqualTo(200);
            assertThat(srv.get(pbase + "/output").json().get("stdout").asText()).isEqualTo(c.containsKey("user") ? "root\n" : "builder\n");
        }
        var asRoot = srv.call("POST", "/v1/vms/" + vm + "/exec-await", "{\"command\":\"whoami\"}", TestServer.KEY,
                Map.of("X-Freestyle-Vm-Linux-User-Id", "root"));
        assertThat(asRoot.json().get("stdout").asText()).isEqualTo("root\n");
        String sid = srv.get("/v1/vms/" + vm).json().get("snapshotId").asText();
        JsonNode snap = listed(sid);
        assertThat(snap.get("user").asText()).isEqualTo("builder");
        assertThat(snap.get("image").asText()).isEqualTo("builtin:busybox");
        assertBuildVmsGone();

        // further creates reuse the cached snapshot
        List<Long> cached = new ArrayList<>();
        List<String> vms = new ArrayList<>(List.of(vm));
        for (int i = 0; i < 3; i++) {
            long c0 = System.nanoTime();
            var c = srv.post("/v1/vms", body);
            cached.add((System.nanoTime() - c0) / 1_000_000);
            assertThat(c.status()).as(c.body()).isEqualTo(200);
            String id = c.json().get("id").asText();
            vms.add(id);
            assertThat(srv.get("/v1/vms/" + id).json().get("snapshotId").asText()).isEqualTo(sid);
        }
        // builds: skipCache rebuilds each time
        List<Long> builds = new ArrayList<>(List.of(buildMs));
        String skipBody = json(Map.of("template", Map.of("baseImage", Map.of("dockerfileContent", dockerfile), "skipCache", true)));
        for (int i = 0; i < 2; i++) {
            long b0 = System.nanoTime();
            var b = srv.post("/v1/vms", skipBody);
            builds.add((System.nanoTime() - b0) / 1_000_000);
            assertThat(b.status()).as(b.body()).isEqualTo(200);
            String id = b.json().get("id").asText();
            vms.add(id);
            assertThat(srv.get("/v1/vms/" + id).json().get("snapshotId").asText()).isNotEqualTo(sid);
        }
        Collections.sort(cached);
        Collections.sort(builds);
        System.out.printf("FIGURES dockerfile create: build median %d ms %s, cached median %d ms %s%n",
                builds.get(builds.size() / 2), builds, cached.get(cached.size() / 2), cached);
        assertThat(cached.get(cached.size() / 2)).isLessThan(builds.get(builds.size() / 2));

        // the same Dockerfile through POST /v1/vms/snapshots is the newest cached snapshot
        var viaSnapshots = srv.post("/v1/vms/snapshots", json(Map.of("template", Map.of("baseImage",
                Map.of("dockerfileContent", dockerfile)))));
        assertThat(viaSnapshots.status()).as(viaSnapshots.body()).isEqualTo(200);
        assertThat(viaSnapshots.json().get("built").asBoolean()).isFalse();

        List<String> snaps = new ArrayList<>();
        for (String id : vms) {
            snaps.add(srv.get("/v1/vms/" + id).json().get("snapshotId").asText());
            assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
        }
        for (String s : new java.util.LinkedHashSet<>(snaps)) assertThat(srv.delete("/v1/vms/snapshots/" + s).status()).isEqualTo(200);
        for (String id : vms) assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
        assertBuildVmsGone();
    }

    @Test
    void aFailingRunStepIsA400WithTheStepAndItsOutputAndLeavesNothing() {
        int vmsBefore = srv.get("/v1/vms").json().get("vms").size();
        String dockerfile = "FROM builtin:busybox\nRUN echo ok-" + System.nanoTime() + "\nRUN echo boom-on-stderr >&2; exit 3\nRUN echo never\n";
        var r = srv.post("/v1/vms", json(Map.of("template", Map.of("baseImage", Map.of("dockerfileContent", dockerfile)))));
        assertThat(r.status()).as(r.body()).isEqualTo(400);
        assertThat(r.json().get("error").asText()).isEqualTo("SNAPSHOT_BUILD_FAILED");
        assertThat(r.json().get("message").asText()).contains("line 3").contains("exited 3").contains("boom-on-stderr");
        assertThat(srv.get("/v1/vms").json().get("vms").size()).isEqualTo(vmsBefore);
        assertBuildVmsGone();
        // recorded as a failed snapshot
        JsonNode failed = null;
        for (JsonNode s : srv.get("/v1/vms/snapshots").json().get("snapshots")) {
            if (s.get("failed").asBoolean() && s.get("failureReason").asText().contains("boom-on-stderr")) failed = s;
        }
        assertThat(failed).isNotNull();
        assertThat(srv.delete("/v1/vms/snapshots/" + failed.get("snapshotId").asText()).status()).isEqualTo(200);

        // an image that cannot be pulled (nothing listens on this loopback port) is a failed build too, not a 500
        var unpullable = srv.post("/v1/vms/snapshots", json(Map.of("template", Map.of("baseImage",
                Map.of("dockerfileContent", "FROM 127.0.0.1:1/nothing/here:latest\nRUN true\n")))));
        assertThat(unpullable.status()).as(unpullable.body()).isEqualTo(400);
        assertThat(unpullable.json().get("error").asText()).isEqualTo("SNAPSHOT_BUILD_FAILED");
        assertThat(unpullable.json().get("message").asText()).contains("FROM 127.0.0.1:1/nothing/here:latest");
        assertThat(srv.get("/v1/vms").json().get("vms").size()).isEqualTo(vmsBefore);
        for (JsonNode s : srv.get("/v1/vms/snapshots").json().get("snapshots")) {
            if (s.get("failed").asBoolean()) assertThat(srv.delete("/v1/vms/snapshots/" + s.get("snapshotId").asText()).status()).isEqualTo(200);
        }

        // refused before anything runs
        for (String bad : List.of("FROM builtin:busybox\nCOPY . /app\n", "FROM builtin:busybox\nADD https://x/y /y\n",
                "RUN true\n", "FROM a\nFROM b\n", "FROM builtin:busybox\nFOO bar\n", "FROM scratch\n",
                "FROM builtin:busybox\nRUN <<EOF\nnot closed\n")) {
            var b = srv.post("/v1/vms", json(Map.of("template", Map.of("baseImage", Map.of("dockerfileContent", bad)))));
            assertThat(b.status()).as(bad + " " + b.body()).isEqualTo(400);
            assertThat(b.json().get("message").asText()).startsWith("Dockerfile");
        }
        var copy = srv.post("/v1/vms", json(Map.of("template", Map.of("baseImage", Map.of("dockerfileContent",
                "FROM builtin:busybox\nCOPY . /app\n")))));
        assertThat(copy.json().get("message").asText()).contains("COPY").contains("build context");
        // baseImage with image is a conflict
        var both = srv.post("/v1/vms", json(Map.of("image", "builtin:busybox", "template", Map.of("baseImage",
                Map.of("dockerfileContent", "FROM builtin:busybox\n")))));
        assertThat(both.status()).isEqualTo(400);
        assertThat(srv.get("/v1/vms").json().get("vms").size()).isEqualTo(vmsBefore);
    }
}
