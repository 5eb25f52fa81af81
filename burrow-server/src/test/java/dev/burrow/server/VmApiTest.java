package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

/** The Freestyle-shaped VM API over real HTTP, real runc and the real SQLite store. */
class VmApiTest {
    static TestServer srv;

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    static String enc(String path) {
        return URLEncoder.encode(path, StandardCharsets.UTF_8).replace("+", "%20");
    }

    @Test
    void waitForReadySignalReturnsAVmThatRunsProcessesAtOnce() {
        // Freestyle's ready signal ("the console is ready for login"): the create answers once a fresh process runs
        var created = srv.post("/v1/vms", "{\"waitForReadySignal\":true,\"readySignalTimeoutSeconds\":30}");
        assertThat(created.status()).as(created.body()).isEqualTo(200);
        String id = created.json().get("id").asText();
        try {
            assertThat(srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo ready\"}").json().get("stdout").asText())
                    .isEqualTo("ready\n");
            // the probe is recorded like any access (an exec), so the create's events show it ran
            assertThat(srv.get("/v1/vms/" + id).json().get("state").asText()).isEqualTo("running");
        } finally {
            srv.delete("/v1/vms/" + id);
        }
    }

    @Test
    void theListPagesWithLimitAndOffsetWhileItsCountsCoverEveryMatchingVm() {
        List<String> ids = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                var r = srv.post("/v1/vms", "{\"vcpuCount\":1,\"memSizeMb\":64,\"labels\":{\"suite\":\"paging\"}}");
                assertThat(r.status()).as(r.body()).isEqualTo(200);
                ids.add(r.json().get("id").asText());
            }
            JsonNode first = srv.get("/v1/vms?label.suite=paging&limit=2").json();
            JsonNode rest = srv.get("/v1/vms?label.suite=paging&limit=2&offset=2").json();
            assertThat(first.get("vms")).hasSize(2);
            assertThat(rest.get("vms")).hasSize(1);
            assertThat(first.get("totalCount").asInt()).isEqualTo(3);
            assertThat(rest.get("runningCount").asInt()).isEqualTo(3);
            List<String> paged = new java.util.ArrayList<>();
            first.get("vms").forEach(v -> paged.add(v.get("id").asText()));
            rest.get("vms").forEach(v -> paged.add(v.get("id").asText()));
            assertThat(paged).containsExactlyInAnyOrderElementsOf(ids);
            // without a label filter the counts come from the store's COUNT, and still cover every VM
            JsonNode all = srv.get("/v1/vms").json();
            assertThat(srv.get("/v1/vms?limit=1").json().get("totalCount").asInt()).isEqualTo(all.get("vms").size());
            assertThat(srv.get("/v1/vms?limit=0").status()).isEqualTo(400);
            assertThat(srv.get("/v1/vms?offset=-1").status()).isEqualTo(400);
        } finally {
            ids.forEach(id -> srv.delete("/v1/vms/" + id));
        }
    }

    @Test
    void createExecFilesAndDeleteLeavesNothing() {
        var created = srv.post("/v1/vms", "{\"vcpuCount\":1,\"memSizeMb\":256,\"labels\":{\"suite\":\"api\"},"
                + "\"env\":{\"GREETING\":\"hello\"},\"additionalFiles\":{\"/opt/app/run.sh\":{\"content\":\"#!/bin/sh\\necho ran\","
                + "\"encoding\":\"utf-8\",\"executable\":true}}}");
        assertThat(created.status()).as(created.body()).isEqualTo(200);
        String id = created.json().get("id").asText();
        assertThat(id).matches("[a-z0-9]{20}");
        assertThat(created.json().get("domains").isArray()).isTrue();

        JsonNode info = srv.get("/v1/vms/" + id).json();
        assertThat(info.get("state").asText()).isEqualTo("running");
        assertThat(info.get("vcpuCount").asInt()).isEqualTo(1);
        assertThat(info.get("memSizeMb").asInt()).isEqualTo(256);

        JsonNode list = srv.get("/v1/vms?label.suite=api").json();
        assertThat(list.get("vms")).extracting(v -> v.get("id").asText()).contains(id);
        assertThat(list.get("runningCount").asInt()).isGreaterThanOrEqualTo(1);
        assertThat(srv.get("/v1/vms?label.suite=nope").json().get("totalCount").asInt()).isZero();

        JsonNode exec = srv.post("/v1/vms/" + id + "/exec-await",
                "{\"command\":\"echo $GREETING; echo oops >&2; /opt/app/run.sh; exit 7\",\"terminal\":null,\"timeoutMs\":null}").json();
        assertThat(exec.get("stdout").asText()).isEqualTo("hello\nran\n");
        assertThat(exec.get("stderr").asText()).isEqualTo("oops\n");
        assertThat(exec.get("statusCode").asInt()).isEqualTo(7);

        // limits really applied inside: the cgroup the VM sees caps memory at 256 MiB
        JsonNode mem = srv.post("/v1/vms/" + id + "/exec-await",
                "{\"command\":\"cat /sys/fs/cgroup/memory/memory.limit_in_bytes\"}").json();
        assertThat(mem.get("stdout").asText().strip()).isEqualTo(String.valueOf(256L * 1024 * 1024));

        // files: the SDK encodes the whole path as one segment (%2F); plain slashes work too
        byte[] binary = new byte[256];
        for (int i = 0; i < binary.length; i++) binary[i] = (byte) i;
        var put = srv.put("/v1/vms/" + id + "/files/" + enc("/data/dir with space/ü.bin"),
                "{\"content\":\"" + Base64.getEncoder().encodeToString(binary) + "\",\"encoding\":\"base64\"}");
        assertThat(put.status()).as(put.body()).isEqualTo(200);
        assertThat(put.json().isObject()).isTrue();
        JsonNode read = srv.get("/v1/vms/" + id + "/files/" + enc("/data/dir with space/ü.bin")).json();
        assertThat(read.get("encoding").asText()).isEqualTo("base64");
        assertThat(Base64.getDecoder().decode(read.get("content").asText())).isEqualTo(binary);
        assertThat(srv.put("/v1/vms/" + id + "/files/tmp/plain.txt", "{\"content\":\"plain text\",\"encoding\":\"utf8\"}").status())
                .isEqualTo(200);
        JsonNode catted = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"cat /tmp/plain.txt\"}").json();
        assertThat(catted.get("stdout").asText()).isEqualTo("plain text");
        JsonNode dir = srv.get("/v1/vms/" + id + "/files/" + enc("/data")).json();
        assertThat(dir.get("files")).anySatisfy(f -> {
            assertThat(f.get("name").asText()).isEqualTo("dir with space");
            assertThat(f.get("kind").asText()).isEqualTo("directory");
        });
        var missing = srv.get("/v1/vms/" + id + "/files/" + enc("/no/such/file"));
        assertThat(missing.status()).isEqualTo(404);
        assertThat(missing.json().get("error").asText()).isEqualTo("FILE_NOT_FOUND");

        var del = srv.delete("/v1/vms/" + id);
        assertThat(del.status()).as(del.body()).isEqualTo(200);
        assertThat(srv.get("/v1/vms/" + id).status()).isEqualTo(404);
        assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    @Test
    void suspendStartStopKillAndDeleteFromEachState() {
        String id = srv.createVm("{}");
        srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo kept > /root/marker; sleep 1000 >/dev/null 2>&1 &\"}");

        var suspended = srv.post("/v1/vms/" + id + "/suspend", null);
        assertThat(suspended.status()).as(suspended.body()).isEqualTo(200);
        assertThat(suspended.json().get("id").asText()).isEqualTo(id);
        assertThat(srv.get("/v1/vms/" + id).json().get("state").asText()).isEqualTo("suspended");
        var started = srv.post("/v1/vms/" + id + "/start", "{}");
        assertThat(started.status()).as(started.body()).isEqualTo(200);
        assertThat(started.json().get("domains").isArray()).isTrue();
        // memory kept: the background sleep survived the freeze
        assertThat(srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"ps | grep -q '[s]leep 1000' && echo alive\"}")
                .json().get("stdout").asText()).isEqualTo("alive\n");

        var stopped = srv.post("/v1/vms/" + id + "/stop", null);
        assertThat(stopped.status()).as(stopped.body()).isEqualTo(200);
        assertThat(stopped.json().get("vmId").asText()).isEqualTo(id);
        assertThat(srv.get("/v1/vms/" + id).json().get("state").asText()).isEqualTo("stopped");
        var execStopped = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"true\"}");
        assertThat(execStopped.status()).isEqualTo(400);
        assertThat(execStopped.json().get("error").asText()).isEqualTo("VM_NOT_RUNNING");
        // the disk is kept while stopped, and readable
        assertThat(srv.get("/v1/vms/" + id + "/files/" + enc("/root/marker")).status()).isEqualTo(200);

        assertThat(srv.post("/v1/vms/" + id + "/start", null).status()).isEqualTo(200);
        JsonNode after = srv.post("/v1/vms/" + id + "/exec-await",
                "{\"command\":\"cat /root/marker; ps | grep -q '[s]leep 1000' || echo gone\"}").json();
        assertThat(after.get("stdout").asText()).isEqualTo("kept\ngone\n");

        var killed = srv.post("/v1/vms/" + id + "/kill", null);
        assertThat(killed.status()).as(killed.body()).isEqualTo(200);
        assertThat(srv.get("/v1/vms/" + id).json().get("status").asText()).isEqualTo("stopped");

        assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();

        // a suspended VM can be deleted directly, and leaves nothing either
        String id2 = srv.createVm("{}");
        assertThat(srv.post("/v1/vms/" + id2 + "/suspend", null).status()).isEqualTo(200);
        assertThat(srv.delete("/v1/vms/" + id2).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(id2, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    @Test
    void execTimeoutKillsTheCommandAndExecOnSuspendedVmResumesIt() {
        String id = srv.createVm("{}");
        try {
            long t0 = System.nanoTime();
            JsonNode r = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"sleep 30\",\"timeoutMs\":500}").json();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertThat(r.get("timedOut").asBoolean()).isTrue();
            assertThat(r.get("statusCode").asInt()).isNotZero();
            assertThat(ms).isLessThan(20_000);
            assertThat(srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"ps | grep -q '[s]leep 30' || echo none\"}")
                    .json().get("stdout").asText()).isEqualTo("none\n");

            srv.post("/v1/vms/" + id + "/suspend", null);
            JsonNode woke = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"echo awake\"}").json();
            assertThat(woke.get("stdout").asText()).isEqualTo("awake\n");
            assertThat(srv.get("/v1/vms/" + id).json().get("state").asText()).isEqualTo("running");
        } finally {
            srv.delete("/v1/vms/" + id);
        }
    }

    @Test
    void eventsRecordIntentAndOutcomeOfEveryTransition() {
        String id = srv.createVm("{}");
        srv.post("/v1/vms/" + id + "/suspend", null);
        srv.post("/v1/vms/" + id + "/start", null);
        var vm = srv.server.lifecycle().events(id, 100);
        assertThat(vm).extracting(e -> e.to().dbName())
                .containsExactly("creating", "running", "suspending", "suspended", "resuming", "running");
        srv.delete("/v1/vms/" + id);
    }
}
