package dev.burrow.server;

import static dev.burrow.server.BadInputTest.assertError;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.burrow.core.store.VmQuery;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.core.vm.Vm;
import dev.burrow.driver.runc.testing.TestRegistry;
import dev.burrow.server.http.Json;

/**
 * Bad input whose answer comes from a real sandbox or the real image store (image references the runc driver parses,
 * registries, a full disk, a command too long for one argument, what a refused transition leaves on the host). The
 * rest of the validation runs on the fake server in {@link BadInputTest}.
 */
class SandboxBadInputTest {
    static TestServer srv;
    static String vmId;

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
        vmId = srv.createVm("{}");
    }

    @AfterAll
    static void stop() {
        if (srv != null) {
            srv.delete("/v1/vms/" + vmId);
            srv.closeAndDelete();
        }
    }

    @ParameterizedTest(name = "create {0} -> {1} {2}")
    @CsvSource(delimiter = '|', value = {
            "{\"image\":\"no such scheme:::\"}           | 400 | INVALID_IMAGE",
            "{\"image\":\"oci:/etc:v1\"}              | 400 | INVALID_IMAGE",
            "{\"image\":\"127.0.0.1:1/nothing/here:v1\"} | 502 | REGISTRY_UNAVAILABLE",
    })
    void badImageReferences(String body, int status, String code) {
        // a create that waits for a pull has a VM row (listed as pulling) whose failure leaves a deleted tombstone
        boolean pulls = code.equals("REGISTRY_UNAVAILABLE");
        int before = pulls ? liveVmCount() : vmCount();
        assertError(srv.post("/v1/vms", body), status, code);
        assertThat(pulls ? liveVmCount() : vmCount()).isEqualTo(before);
    }

    @Test
    void templateFieldsAreAcceptedLikeTopLevelOnes() {
        // the SDK's VmSpec builder nests resources in "template"; a top-level value wins
        String id = srv.createVm("{\"template\":{\"memSizeGb\":0.5,\"vcpuCount\":1,\"workdir\":\"/tmp\"},\"memSizeMb\":320}");
        try {
            var info = srv.get("/v1/vms/" + id).json();
            assertThat(info.get("memSizeMb").asInt()).isEqualTo(320);
            assertThat(info.get("vcpuCount").asInt()).isEqualTo(1);
            assertThat(srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"pwd\"}").json().get("stdout").asText())
                    .isEqualTo("/tmp\n");
        } finally {
            srv.delete("/v1/vms/" + id);
        }
    }


    @Test
    void anImageTheRegistryDoesNotHaveIsNotFoundAndCreatesNothing() {
        HostRequirements.requireCommand(TestRegistry.BINARY);
        int before = liveVmCount();
        try (TestRegistry registry = TestRegistry.start()) {
            var r = srv.post("/v1/vms", "{\"image\":\"" + registry.ref("nothing/here:v1") + "\"}");
            assertError(r, 404, "IMAGE_NOT_FOUND");
            assertThat(r.json().get("message").asText()).contains("nothing/here");
        }
        // a registry that does not answer is a gateway failure whose message says the registry is the trouble
        var down = srv.post("/v1/vms", "{\"image\":\"127.0.0.1:1/nothing/here:v1\"}");
        assertError(down, 502, "REGISTRY_UNAVAILABLE");
        assertThat(down.json().get("message").asText()).contains("registry 127.0.0.1:1 refused the connection");
        assertThat(liveVmCount()).isEqualTo(before);
    }


    @Test
    void aCommandLongerThanOneArgumentMayHoldRunsWhole() {
        // 200 KB: over Linux's 128 KiB limit for one argv string, so it cannot be `sh -c <command>`
        String payload = "y".repeat(200_000);
        String command = "x=" + payload + "; echo ${#x}; read line; echo \"stdin:[$line]\"; exit 3";
        var r = srv.post("/v1/vms/" + vmId + "/exec-await", Json.MAPPER.createObjectNode().put("command", command).toString());
        assertThat(r.status()).as(r.toString().substring(0, Math.min(300, r.toString().length()))).isEqualTo(200);
        assertThat(r.json().get("stdout").asText()).isEqualTo("200000\nstdin:[]\n");
        assertThat(r.json().get("statusCode").asInt()).isEqualTo(3);
        // the same through the SDK's vm.user() header, which runs it as an interactive process
        var asRoot = srv.call("POST", "/v1/vms/" + vmId + "/exec-await",
                Json.MAPPER.createObjectNode().put("command", command).toString(), TestServer.KEY,
                java.util.Map.of("X-Freestyle-Vm-Linux-User-Id", "root"));
        assertThat(asRoot.json().get("stdout").asText()).isEqualTo("200000\nstdin:[]\n");
        assertThat(asRoot.json().get("statusCode").asInt()).isEqualTo(3);
    }


    @Test
    void writingIntoAFullDiskIsDiskFullWithoutAHostPath() {
        if (!srv.server.lifecycle().capabilities().diskQuota()) {
            assertError(srv.post("/v1/vms", "{\"rootfsSizeMb\":64}"), 400, "UNSUPPORTED_FIELD");
            return;
        }
        String id = srv.createVm("{\"rootfsSizeMb\":64}");
        try {
            var fill = srv.post("/v1/vms/" + id + "/exec-await",
                    "{\"command\":\"dd if=/dev/zero of=/root/fill bs=1M count=100 2>/dev/null; echo done\"}");
            assertThat(fill.json().get("stdout").asText()).isEqualTo("done\n");
            String content = java.util.Base64.getEncoder().encodeToString(new byte[4 * 1024 * 1024]);
            var r = srv.put("/v1/vms/" + id + "/files/%2Froot%2Fmore",
                    "{\"content\":\"" + content + "\",\"encoding\":\"base64\"}");
            assertError(r, 409, "DISK_FULL");
            assertThat(r.json().get("message").asText()).contains("/root/more");
            // nothing half-written is left, and the VM works again once space is freed
            assertThat(srv.get("/v1/vms/" + id + "/files/%2Froot%2Fmore").status()).isEqualTo(404);
            srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"rm /root/fill\"}");
            assertThat(srv.put("/v1/vms/" + id + "/files/%2Froot%2Fmore", "{\"content\":\"ok\"}").status()).isEqualTo(200);
        } finally {
            srv.delete("/v1/vms/" + id);
        }
    }


    @Test
    void invalidTransitionsAre409WithTheCurrentState() {
        String id = srv.createVm("{}");
        try {
            srv.post("/v1/vms/" + id + "/stop", null);
            var r = srv.post("/v1/vms/" + id + "/suspend", null);
            assertError(r, 409, "INVALID_STATE_TRANSITION");
            assertThat(r.json().get("message").asText()).contains("stopped");
            var exec = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"true\"}");
            assertError(exec, 400, "VM_NOT_RUNNING");
            assertThat(srv.get("/v1/vms/" + id).json().get("status").asText()).isEqualTo("stopped");
        } finally {
            srv.delete("/v1/vms/" + id);
        }
        assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
    }

    /** VMs not deleted: a failed pull leaves its create's row as a deleted tombstone. */
    static int liveVmCount() {
        return srv.server.lifecycle().list(new VmQuery(false, java.util.Map.of(), 0, 0)).size();
    }

    static int vmCount() {
        List<Vm> all = srv.server.lifecycle().list(new VmQuery(true, java.util.Map.of(), 0, 0));
        return all.size();
    }
}
