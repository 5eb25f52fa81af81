package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Snapshots, create from a snapshot, fork, disk quotas and resize, over HTTP against the real runc driver: data
 * written before a snapshot is in every VM made from it, VMs made from one snapshot are independent of each other
 * and of their source, a snapshot in use cannot be deleted, and nothing is left on the host afterwards.
 */
class SnapshotApiTest {
    static TestServer srv;

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    static String sh(String vmId, String command) {
        var r = srv.post("/v1/vms/" + vmId + "/exec-await", "{\"command\":\"" + command.replace("\"", "\\\"") + "\"}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("stdout").asText();
    }

    static List<String> snapshotIds() {
        var r = srv.get("/v1/vms/snapshots");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        List<String> ids = new ArrayList<>();
        r.json().get("snapshots").forEach(s -> ids.add(s.get("snapshotId").asText()));
        assertThat(r.json().get("totalCount").asInt()).isEqualTo(ids.size());
        return ids;
    }

    static void assertNoLeftovers(List<String> ids) {
        for (String id : ids) {
            assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).as("host after " + id).isEmpty();
        }
    }

    @Test
    void snapshotCreateFromItAndForkKeepEveryDiskIndependent() {
        String source = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":256}");
        sh(source, "echo original > /root/data");

        var snap = srv.post("/v1/vms/" + source + "/snapshot", "{\"name\":\"first\",\"persistence\":{\"type\":\"persistent\"}}");
        assertThat(snap.status()).as(snap.body()).isEqualTo(200);
        String sid = snap.json().get("snapshotId").asText();
        assertThat(sid).matches("sc-[a-z0-9]{20}");
        assertThat(snap.json().get("sourceVmId").asText()).isEqualTo(source);
        // the list route is not taken for GET /v1/vms/{vm_id}
        JsonNode listed = srv.get("/v1/vms/snapshots").json().get("snapshots");
        assertThat(listed).anySatisfy(s -> {
            assertThat(s.get("snapshotId").asText()).isEqualTo(sid);
            assertThat(s.get("name").asText()).isEqualTo("first");
            assertThat(s.get("sourceVmId").asText()).isEqualTo(source);
            assertThat(s.get("memSizeMib").asInt()).isEqualTo(256);
        });
        assertThat(srv.get("/v1/vms/" + source + "/events").json().get("events"))
                .anySatisfy(e -> assertThat(e.get("op").asText()).isEqualTo("snapshot"));

        // the source changes after the snapshot; a VM made from the snapshot sees the snapshot's state
        sh(source, "echo changed > /root/data");
        String fromSnap = srv.createVm("{\"snapshotId\":\"" + sid + "\",\"memSizeMb\":128}");
        assertThat(sh(fromSnap, "cat /root/data")).isEqualTo("original\n");
        JsonNode info = srv.get("/v1/vms/" + fromSnap).json();
        assertThat(info.get("snapshotId").asText()).isEqualTo(sid);
        assertThat(info.get("image").asText()).isEqualTo("builtin:busybox");
        assertThat(info.get("memSizeMb").asInt()).isEqualTo(128);
        sh(fromSnap, "echo mine > /root/data");
        assertThat(sh(source, "cat /root/data")).isEqualTo("changed\n");

        // fork: three running VMs with the source's current disk, each independent, the source untouched
        var fork = srv.post("/v1/vms/" + source + "/fork", "{\"count\":3}");
        assertThat(fork.status()).as(fork.body()).isEqualTo(200);
        assertThat(fork.json().get("vmId").asText()).isEqualTo(source);
        List<String> forks = new ArrayList<>();
        fork.json().get("forks").forEach(f -> {
            assertThat(f.get("domains").isArray()).isTrue();
            forks.add(f.get("id").asText());
        });
        assertThat(forks).hasSize(3).doesNotHaveDuplicates().doesNotContain(source);
        for (String f : forks) {
            assertThat(srv.get("/v1/vms/" + f).json().get("state").asText()).isEqualTo("running");
            assertThat(sh(f, "cat /root/data")).isEqualTo("changed\n");
            sh(f, "echo " + f + " > /root/data");
        }
        for (String f : forks) assertThat(sh(f, "cat /root/data")).isEqualTo(f + "\n");
        assertThat(sh(source, "cat /root/data")).isEqualTo("changed\n");
        assertThat(sh(fromSnap, "cat /root/data")).isEqualTo("mine\n");

        // the forks' snapshot is kept and listed beside the named one
        List<String> snaps = snapshotIds();
        assertThat(snaps).contains(sid).hasSize(2);
        String forkSnap = snaps.stream().filter(s -> !s.equals(sid)).findFirst().orElseThrow();

        // in use while a VM made from it lives, even when its source is gone
        assertThat(srv.delete("/v1/vms/" + source).status()).isEqualTo(200);
        var inUse = srv.delete("/v1/vms/snapshots/" + sid);
        assertThat(inUse.status()).as(inUse.body()).isEqualTo(409);
        assertThat(inUse.json().get("error").asText()).isEqualTo("SNAPSHOT_IN_USE");
        assertThat(inUse.json().get("message").asText()).contains(fromSnap);
        assertThat(sh(fromSnap, "cat /root/data")).isEqualTo("mine\n");

        assertThat(srv.delete("/v1/vms/" + fromSnap).status()).isEqualTo(200);
        var deleted = srv.delete("/v1/vms/snapshots/" + sid);
        assertThat(deleted.status()).as(deleted.body()).isEqualTo(200);
        assertThat(deleted.json().get("snapshot_id").asText()).isEqualTo(sid);
        assertThat(snapshotIds()).doesNotContain(sid);
        assertThat(srv.delete("/v1/vms/snapshots/" + sid).json().get("error").asText()).isEqualTo("SNAPSHOT_NOT_FOUND");
        assertThat(srv.post("/v1/vms", "{\"snapshotId\":\"" + sid + "\"}").status()).isEqualTo(404);

        assertThat(srv.delete("/v1/vms/snapshots/" + forkSnap).status()).isEqualTo(409);
        // the forks outlive the deleted source and still work
        for (String f : forks) {
            assertThat(sh(f, "cat /root/data")).isEqualTo(f + "\n");
            assertThat(srv.delete("/v1/vms/" + f).status()).isEqualTo(200);
        }
        assertThat(srv.delete("/v1/vms/snapshots/" + forkSnap).status()).isEqualTo(200);

        List<String> all = new ArrayList<>(List.of(source, fromSnap, sid, forkSnap));
        all.addAll(forks);
        assertNoLeftovers(all);
    }

    @Test
    void snapshotOfAStoppedVmAndBadRequestsAreClientErrors() {
        String stopped = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":128}");
        sh(stopped, "echo kept > /root/data");
        assertThat(srv.post("/v1/vms/" + stopped + "/stop", null).status()).isEqualTo(200);
        var snap = srv.post("/v1/vms/" + stopped + "/snapshot", null);
        assertThat(snap.status()).as(snap.body()).isEqualTo(200);
        String sid = snap.json().get("snapshotId").asText();
        assertThat(srv.get("/v1/vms/" + stopped).json().get("status").asText()).isEqualTo("stopped");
        String child = srv.createVm("{\"snapshotId\":\"" + sid + "\"}");
        assertThat(sh(child, "cat /root/data")).isEqualTo("kept\n");

        String unknownSnap = "sc-aaaaaaaaaaaaaaaaaaaa";
        String unknownVm = "aaaaaaaaaaaaaaaaaaaa";
        int vmsBefore = srv.get("/v1/vms?includeDeleted=true").json().get("totalCount").asInt();
        List<String> snapsBefore = snapshotIds();
        expect(srv.post("/v1/vms", "{\"snapshotId\":\"" + unknownSnap + "\"}"), 404, "SNAPSHOT_NOT_FOUND");
        expect(srv.post("/v1/vms", "{\"template\":{\"snapshotId\":\"" + unknownSnap + "\"}}"), 404, "SNAPSHOT_NOT_FOUND");
        // an unknown snapshot is refused before any row exists
        assertThat(srv.get("/v1/vms?includeDeleted=true").json().get("totalCount").asInt()).isEqualTo(vmsBefore);
        expect(srv.post("/v1/vms", "{\"snapshotId\":\"../../etc\"}"), 400, "INVALID_SNAPSHOT_ID");
        expect(srv.post("/v1/vms", "{\"snapshotId\":\"" + sid + "\",\"image\":\"builtin:busybox\"}"), 400, "CREATE_VM_BAD_REQUEST");
        expect(srv.delete("/v1/vms/snapshots/" + unknownSnap), 404, "SNAPSHOT_NOT_FOUND");
        expect(srv.delete("/v1/vms/snapshots/not-a-snapshot"), 400, "INVALID_SNAPSHOT_ID");
        expect(srv.post("/v1/vms/" + unknownVm + "/snapshot", "{}"), 404, "VM_NOT_FOUND");
        expect(srv.post("/v1/vms/NOPE/snapshot", "{}"), 400, "INVALID_VM_ID");
        expect(srv.post("/v1/vms/" + stopped + "/snapshot", "{\"persistence\":{\"type\":\"ephemeral\"}}"), 400, "UNSUPPORTED_FIELD");
        expect(srv.post("/v1/vms/" + stopped + "/snapshot", "{\"name\":\"\"}"), 400, null);
        expect(srv.post("/v1/vms/" + stopped + "/fork", "{\"count\":0}"), 400, "FORK_VM_BAD_REQUEST");
        expect(srv.post("/v1/vms/" + stopped + "/fork", "{\"count\":51}"), 400, "FORK_VM_BAD_REQUEST");
        expect(srv.post("/v1/vms/" + stopped + "/fork", "{\"count\":\"two\"}"), 400, null);
        expect(srv.post("/v1/vms/" + unknownVm + "/fork", "{\"count\":1}"), 404, "VM_NOT_FOUND");
        // the refused requests made no snapshot
        assertThat(snapshotIds()).contains(sid).isEqualTo(snapsBefore);

        assertThat(srv.delete("/v1/vms/" + child).status()).isEqualTo(200);
        assertThat(srv.delete("/v1/vms/" + stopped).status()).isEqualTo(200);
        assertThat(srv.delete("/v1/vms/snapshots/" + sid).status()).isEqualTo(200);
        assertNoLeftovers(List.of(stopped, child, sid));
    }

    @Test
    void aDiskQuotaStopsWritesAndTheVmStaysUsable() {
        if (!srv.server.lifecycle().capabilities().diskQuota()) {
            // overlay storage: the quota must be refused, never silently dropped
            expect(srv.post("/v1/vms", "{\"rootfsSizeMb\":64}"), 400, "UNSUPPORTED_FIELD");
            return;
        }
        expect(srv.post("/v1/vms", "{\"rootfsSizeMb\":0}"), 400, "CREATE_VM_BAD_REQUEST");
        expect(srv.post("/v1/vms", "{\"rootfsSizeMb\":64,\"rootfsSizeGb\":1}"), 400, "CREATE_VM_BAD_REQUEST");
        String id = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":256,\"rootfsSizeMb\":64}");
        assertThat(srv.get("/v1/vms/" + id).json().get("rootfsSizeMb").asInt()).isEqualTo(64);
        String out = sh(id, "dd if=/dev/zero of=/root/big bs=1M count=100 2>&1; echo exit=$?");
        assertThat(out).containsAnyOf("Disk quota exceeded", "No space left").doesNotContain("exit=0");
        // the VM stays usable once the space is freed
        assertThat(sh(id, "rm -f /root/big; sync; echo small > /root/small && cat /root/small")).isEqualTo("small\n");
        assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);

        // the quota grows with resize (rootfsSizeGb, the Freestyle field), never shrinks
        String grow = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":256,\"rootfsSizeMb\":64}");
        assertThat(sh(grow, "dd if=/dev/zero of=/root/big bs=1M count=100 2>&1; echo exit=$?")).doesNotContain("exit=0");
        sh(grow, "rm -f /root/big; sync");
        expect(srv.post("/v1/vms/" + grow + "/resize", "{\"rootfsSizeGb\":0.03125}"), 400, "RESIZE_VM_BAD_REQUEST");
        var grown = srv.post("/v1/vms/" + grow + "/resize", "{\"rootfsSizeGb\":0.25}");
        assertThat(grown.status()).as(grown.body()).isEqualTo(200);
        assertThat(srv.get("/v1/vms/" + grow).json().get("rootfsSizeMb").asInt()).isEqualTo(256);
        assertThat(srv.get("/v1/vms/" + grow).json().get("memSizeMb").asInt()).isEqualTo(256);
        assertThat(sh(grow, "dd if=/dev/zero of=/root/big bs=1M count=100 2>&1 >/dev/null; echo exit=$?").strip()).endsWith("exit=0");
        assertThat(sh(grow, "dd if=/dev/zero of=/root/big2 bs=1M count=200 2>&1; echo exit=$?"))
                .containsAnyOf("Disk quota exceeded", "No space left").doesNotContain("exit=0");
        assertThat(srv.delete("/v1/vms/" + grow).status()).isEqualTo(200);

        // rootfsSizeGb is the Freestyle spelling of the same quota
        String gb = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":128,\"rootfsSizeGb\":0.0625}");
        assertThat(srv.get("/v1/vms/" + gb).json().get("rootfsSizeMb").asInt()).isEqualTo(64);
        assertThat(srv.delete("/v1/vms/" + gb).status()).isEqualTo(200);
        assertNoLeftovers(List.of(id, gb, grow));
    }

    @Test
    void resizeChangesTheMemoryLimitInside() {
        String id = srv.createVm("{\"vcpuCount\":1,\"memSizeMb\":256}");
        String limit = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
        assertThat(sh(id, limit).strip()).isEqualTo(String.valueOf(256L << 20));
        var r = srv.post("/v1/vms/" + id + "/resize", "{\"memSizeMb\":512}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.json().isObject()).isTrue();
        assertThat(sh(id, limit).strip()).isEqualTo(String.valueOf(512L << 20));
        assertThat(srv.get("/v1/vms/" + id).json().get("memSizeMb").asInt()).isEqualTo(512);
        assertThat(srv.post("/v1/vms/" + id + "/resize", "{\"memSizeGb\":0.375}").status()).isEqualTo(200);
        assertThat(sh(id, limit).strip()).isEqualTo(String.valueOf(384L << 20));

        // no quota at create: none to grow (on overlay storage: no quotas at all)
        expect(srv.post("/v1/vms/" + id + "/resize", "{\"rootfsSizeGb\":10}"), 400,
                srv.server.lifecycle().capabilities().diskQuota() ? "RESIZE_VM_BAD_REQUEST" : "UNSUPPORTED_FIELD");
        expect(srv.post("/v1/vms/" + id + "/resize", "{\"memSizeMb\":1}"), 400, "RESIZE_VM_BAD_REQUEST");
        expect(srv.post("/v1/vms/" + id + "/resize", "{\"vcpuCount\":0}"), 400, "RESIZE_VM_BAD_REQUEST");
        expect(srv.post("/v1/vms/" + id + "/resize", null), 400, null);
        expect(srv.post("/v1/vms/aaaaaaaaaaaaaaaaaaaa/resize", "{\"memSizeMb\":256}"), 404, "VM_NOT_FOUND");
        // refused resizes changed nothing
        assertThat(sh(id, limit).strip()).isEqualTo(String.valueOf(384L << 20));
        assertThat(srv.delete("/v1/vms/" + id).status()).isEqualTo(200);
        assertNoLeftovers(List.of(id));
    }

    static void expect(TestServer.Response r, int status, String error) {
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        assertThat(r.json().get("message").asText()).isNotBlank();
        if (error != null) assertThat(r.json().get("error").asText()).as(r.body()).isEqualTo(error);
    }
}
