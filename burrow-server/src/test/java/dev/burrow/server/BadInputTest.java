package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.burrow.core.store.VmQuery;
import dev.burrow.core.vm.Vm;

/**
 * Every malformed request is a 4xx with {error, message}, changes nothing and leaks nothing. On the fake server (no
 * root, no runc): what needs a real sandbox or the real image store is in {@link SandboxBadInputTest}.
 */
class BadInputTest {
    static TestServer srv;
    static String vmId;

    @BeforeAll
    static void start() {
        srv = FakeServer.start();
        vmId = srv.createVm("{}");
    }

    @AfterAll
    static void stop() {
        if (srv != null) {
            srv.delete("/v1/vms/" + vmId);
            srv.closeAndDelete();
        }
    }

    static void assertError(TestServer.Response r, int status, String code) {
        assertThat(r.status()).as(r.toString()).isEqualTo(status);
        assertThat(r.json().get("error").asText()).as(r.toString()).isEqualTo(code);
        assertThat(r.json().get("code").asText()).isEqualTo(code);
        assertThat(r.json().get("message").asText()).isNotBlank();
        // the vendor SDK prints description for a code it has no class for
        assertThat(r.json().get("description").asText()).isEqualTo(r.json().get("message").asText());
        assertThat(r.body()).doesNotContain("Exception").doesNotContain("\tat ");
        assertNoHostDetail(r);
    }

    /**
     * No path of a test server's data dir (temp dirs named {@code burrow-srv-…}, whichever server answered: other
     * classes call this too) and no runc command line reaches the client.
     */
    static void assertNoHostDetail(TestServer.Response r) {
        assertThat(r.body()).as(r.toString()).doesNotContain("burrow-srv-").doesNotContain("--root")
                .doesNotContain("runc exec").doesNotContain("skopeo");
    }

    @ParameterizedTest(name = "create {0} -> {1} {2}")
    @CsvSource(delimiter = '|', value = {
            "{not json                                   | 400 | BAD_REQUEST",
            "[1,2,3]                                     | 400 | BAD_REQUEST",
            "{\"vcpuCount\":\"two\"}                     | 400 | BAD_REQUEST",
            "{\"vcpuCount\":1.5}                         | 400 | BAD_REQUEST",
            "{\"vcpuCount\":0}                           | 400 | CREATE_VM_BAD_REQUEST",
            "{\"vcpuCount\":100000}                      | 400 | CREATE_VM_BAD_REQUEST",
            "{\"memSizeMb\":1}                           | 400 | CREATE_VM_BAD_REQUEST",
            "{\"memSizeMb\":-5}                          | 400 | CREATE_VM_BAD_REQUEST",
            "{\"env\":{\"A=B\":\"x\"}}                   | 400 | CREATE_VM_BAD_REQUEST",
            "{\"env\":[1]}                               | 400 | BAD_REQUEST",
            "{\"workdir\":\"relative\"}                  | 400 | CREATE_VM_BAD_REQUEST",
            "{\"persistence\":{\"type\":\"forever\"}}    | 400 | CREATE_VM_BAD_REQUEST",
            "{\"additionalFiles\":{\"../x\":{\"content\":\"a\"}}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"additionalFiles\":{\"/x\":{\"content\":\"%%%\",\"encoding\":\"base64\"}}} | 400 | FILES_BAD_REQUEST",
            "{\"gitRepos\":[{\"repo\":\"file:///etc\",\"path\":\"/r\"}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"gitRepos\":[{\"repo\":\"https://example.invalid/r\"}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"gitRepos\":[{\"repo\":\"https://example.invalid/r\",\"path\":\"/r\",\"rev\":\"--upload-pack=x\"}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"git\":{\"repos\":[{\"path\":\"/r\"}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"gitRepos\":\"https://example.invalid/r\"} | 400 | BAD_REQUEST",
            "{\"aptDeps\":[\"Bad_Name\"]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"aptDeps\":[\"curl; reboot\"]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"aptDeps\":\"curl\"} | 400 | BAD_REQUEST",
            "{\"users\":[{\"name\":\"bad name\"}]}   | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\",\"uid\":0}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\",\"uid\":-3}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\",\"gecos\":\"x:y\"}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\",\"home\":\"rel\"}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\",\"groups\":[\"x;y\"]}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\"},{\"name\":\"a\"}]} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"groups\":[{\"name\":\"-x\"}]}       | 400 | CREATE_VM_BAD_REQUEST",
            "{\"groups\":[{\"name\":\"g\",\"gid\":\"ten\"}]} | 400 | BAD_REQUEST",
            "{\"users\":{\"name\":\"a\"}}            | 400 | BAD_REQUEST",
            "{\"idleTimeoutSeconds\":-1}                 | 400 | CREATE_VM_BAD_REQUEST",
            "{\"waitForReadySignal\":true,\"readySignalTimeoutSeconds\":0} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"readySignalTimeoutSeconds\":99999}      | 400 | CREATE_VM_BAD_REQUEST",
            "{\"waitForReadySignal\":\"yes\"}           | 400 | BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a b\",\"mode\":\"service\",\"exec\":[\"true\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"../x\",\"mode\":\"service\",\"exec\":[\"true\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"daemon\",\"exec\":[\"true\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":\"true\"}]}} | 400 | BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"env\":{\"1X\":\"v\"}}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"user\":\"x;rm\"}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"workdir\":\"rel\"}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"timeoutSec\":-1}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"restartPolicy\":{\"policy\":\"sometimes\"}}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"restartPolicy\":{\"policy\":\"always\",\"restartSec\":-2}}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"oneshot\",\"exec\":[\"true\"],\"restartPolicy\":{\"policy\":\"always\"}}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"requires\":[\"b\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"after\":[\"a\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"after\":[\"b\"]},{\"name\":\"b\",\"mode\":\"service\",\"exec\":[\"true\"],\"after\":[\"a\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"]},{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"oneshot\",\"exec\":[\"true\"],\"readySignal\":true}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"watchdogSec\":-1}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"watchdogSec\":86401}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"readySignal\":\"yes\"}]}} | 400 | BAD_REQUEST",
            "{\"systemd\":{\"patchedServices\":[{\"name\":\"ssh\"}]}} | 400 | UNSUPPORTED_FIELD",
            "{} trailing                                 | 400 | BAD_REQUEST",
            "{\"vcpuCount\":\"\\u0000\"}                | 400 | BAD_REQUEST",
            "{\"memSizeMb\":\"\"}                     | 400 | BAD_REQUEST",
            "{\"waitForReadySignal\":\" \"}           | 400 | BAD_REQUEST",
            "{\"vcpuCount\":1,\"vcpuCount\":1}          | 400 | BAD_REQUEST",
            "{\"vcpuCount\":123456789012345678901234567890} | 400 | BAD_REQUEST",
            "{\"workdir\":\"/a/%LONG%\"}             | 400 | CREATE_VM_BAD_REQUEST",
            "{\"workdir\":\"/a\\u0000b\"}            | 400 | CREATE_VM_BAD_REQUEST",
            "{\"labels\":{\"a\\u0000b\":\"x\"}}     | 400 | CREATE_VM_BAD_REQUEST",
            "{\"labels\":{\"a\":\"x\\u0000\"}}      | 400 | CREATE_VM_BAD_REQUEST",
            "{\"users\":[{\"name\":\"a\",\"home\":\"/home/../etc\"}]} | 400 | USER_HOME_INVALID",
            "{\"users\":[{\"name\":\"a\",\"home\":\"/home/%LONG%\"}]} | 400 | USER_HOME_INVALID",
            "{\"users\":[{\"name\":\"a\\u0000\"}]}   | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\\u0000\",\"mode\":\"service\",\"exec\":[\"true\"]}]}} | 400 | CREATE_VM_BAD_REQUEST",
            "{\"systemd\":{\"services\":[{\"name\":\"a\",\"mode\":\"service\",\"exec\":[\"true\"],\"workdir\":\"/%LONG%\"}]}} | 400 | CREATE_VM_BAD_REQUEST",
    })
    void badCreateBodies(String body, int status, String code) {
        int before = vmCount();
        // a path component one byte over NAME_MAX
        body = body.replace("%LONG%", "x".repeat(256));
        assertError(srv.post("/v1/vms", body), status, code);
        assertThat(vmCount()).isEqualTo(before);
    }

    @Test
    void unknownFieldsTheSdkSendsAreIgnored() {
        String id = srv.createVm("{\"discriminator\":\"x\",\"skipCache\":true,\"recreate\":false,\"git\":{\"config\":{}},"
                + "\"systemd\":{\"services\":[]},\"somethingNew\":{\"a\":1},\"memSizeGb\":0.25}");
        try {
            assertThat(srv.get("/v1/vms/" + id).json().get("memSizeMb").asInt()).isEqualTo(256);
        } finally {
            srv.delete("/v1/vms/" + id);
        }
    }

    @Test
    void malformedTemplatesAreRefusedBeforeAnythingRuns() {
        int before = vmCount();
        // a Dockerfile Burrow cannot build is refused before anything runs (SnapshotTemplateTest builds real ones)
        assertError(srv.post("/v1/vms", "{\"template\":{\"baseImage\":{\"dockerfileContent\":\"FROM debian\\nCOPY . /\"}}}"),
                400, "DOCKERFILE_BAD_REQUEST");
        assertError(srv.post("/v1/vms", "{\"template\":{\"baseImage\":\"FROM debian\"}}"), 400, "CREATE_SNAPSHOT_BAD_REQUEST");
        // template fields map to the top level: a malformed template.snapshotId is refused like a top-level one
        assertError(srv.post("/v1/vms", "{\"template\":{\"snapshotId\":\"sc-abc\"}}"), 400, "INVALID_SNAPSHOT_ID");
        assertError(srv.post("/v1/vms", "{\"template\":{\"vcpuCount\":\"x\"}}"), 400, "BAD_REQUEST");
        assertThat(vmCount()).isEqualTo(before);
    }

    @ParameterizedTest(name = "{0} {1} -> {2} {3}")
    @CsvSource(delimiter = '|', value = {
            "GET    | /v1/vms/NOT-AN-ID                        | 400 | INVALID_VM_ID",
            "GET    | /v1/vms/aaaaaaaaaaaaaaaaaaaa             | 404 | VM_NOT_FOUND",
            "DELETE | /v1/vms/aaaaaaaaaaaaaaaaaaaa             | 404 | VM_NOT_FOUND",
            "POST   | /v1/vms/aaaaaaaaaaaaaaaaaaaa/stop        | 404 | VM_NOT_FOUND",
            "POST   | /v1/vms/aaaaaaaaaaaaaaaaaaaa/suspend     | 404 | VM_NOT_FOUND",
            "GET    | /v1/vms/aaaaaaaaaaaaaaaaaaaa/files/etc   | 404 | VM_NOT_FOUND",
            "GET    | /v1/nothing-here                         | 404 | NOT_FOUND",
    })
    void badIdsAndRoutes(String method, String path, int status, String code) {
        assertError(srv.call(method.trim(), path.trim(), null), status, code);
    }

    @Test
    void overlongWorkdirsAreClientErrorsOnEveryRoute() {
        String longDir = "/tmp/" + "d".repeat(300);
        assertError(srv.post("/v1/vms/" + vmId + "/processes",
                "{\"argv\":[\"true\"],\"workdir\":\"" + longDir + "\"}"), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/vms/" + vmId + "/terminals",
                "{\"workdir\":\"" + longDir + "\"}"), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/vms/" + vmId + "/systemd/services",
                "{\"name\":\"w\",\"mode\":\"oneshot\",\"exec\":[\"true\"],\"workdir\":\"" + longDir + "\"}"), 400,
                "SERVICE_BAD_REQUEST");
        assertThat(srv.get("/v1/vms/" + vmId + "/systemd/services").json().get("services")).isEmpty();
    }

    @Test
    void aSnapshotPatchWithWrongTypesIsRefusedAndChangesNothing() {
        var snap = srv.post("/v1/vms/" + vmId + "/snapshot", "{\"name\":\"keep\"}");
        assertThat(snap.status()).as(snap.toString()).isEqualTo(200);
        String sid = snap.json().get("snapshotId").asText();
        try {
            String path = "/v1/vms/snapshots/" + sid;
            for (String body : List.of("{\"name\":123}", "{\"name\":[\"a\"]}", "{\"name\":\"a\\u0000\"}",
                    "{\"persistence\":\"sticky\"}", "{\"persistence\":{\"priority\":\"high\"}}")) {
                assertError(srv.call("PATCH", path, body), 400, "UPDATE_SNAPSHOT_BAD_REQUEST");
            }
            assertError(srv.post("/v1/vms/" + vmId + "/snapshot", "{\"name\":\"a\\u0000b\"}"), 400, "BAD_REQUEST");
            assertError(srv.post("/v1/vms/snapshots", "{\"name\":\"a\\u0000b\"}"), 400, "CREATE_SNAPSHOT_BAD_REQUEST");
            var names = srv.get("/v1/vms/snapshots").body();
            assertThat(names).contains("\"keep\"").doesNotContain("a\\u0000");
        } finally {
            srv.delete("/v1/vms/snapshots/" + sid);
        }
    }

    @Test
    void execBodiesAreValidated() {
        assertError(srv.post("/v1/vms/" + vmId + "/exec-await", null), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/vms/" + vmId + "/exec-await", "{\"command\":\"\"}"), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/vms/" + vmId + "/exec-await", "{\"command\":42}"), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/vms/" + vmId + "/exec-await", "{\"command\":\"true\",\"timeoutMs\":-1}"), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/vms/" + vmId + "/exec-await", "{\"command\":\"true\",\"timeoutMs\":\"soon\"}"), 400, "BAD_REQUEST");
    }

    @Test
    void badFilePathsAndBodies() {
        String base = "/v1/vms/" + vmId + "/files/";
        assertError(srv.get(base + "%2Fetc%2F..%2F..%2Fetc%2Fpasswd"), 400, "FILES_BAD_REQUEST");
        // a NUL in the URI is refused by the HTTP layer itself, still with the JSON error body
        assertError(srv.get(base + "tmp%00x"), 400, "BAD_REQUEST");
        assertError(srv.put(base + "%2Ftmp%2Fa", "{\"content\":\"!!!\",\"encoding\":\"base64\"}"), 400, "FILES_BAD_REQUEST");
        assertError(srv.put(base + "%2Ftmp%2Fa", "{\"content\":\"x\",\"encoding\":\"rot13\"}"), 400, "FILES_BAD_REQUEST");
        assertError(srv.put(base + "%2Ftmp%2Fa", "{\"encoding\":\"utf8\"}"), 400, "FILES_BAD_REQUEST");
        assertError(srv.put(base + "%2Ftmp%2Fa", "nope"), 400, "BAD_REQUEST");
        // none of the refused writes created the file
        assertThat(srv.get(base + "%2Ftmp%2Fa").status()).isEqualTo(404);
    }

    @Test
    void oversizedBodyIsRefusedWith413() {
        // Larger than the server's request limit: refused before it is parsed.
        String big = "{\"content\":\"" + "A".repeat((int) (dev.burrow.server.http.ApiServer.MAX_BODY_BYTES + 1024)) + "\"}";
        var r = srv.put("/v1/vms/" + vmId + "/files/%2Ftmp%2Fbig", big);
        assertThat(r.status()).as(r.body().length() > 300 ? r.body().substring(0, 300) : r.body()).isEqualTo(413);
        assertThat(r.json().get("error").asText()).isEqualTo("PAYLOAD_TOO_LARGE");
        assertThat(srv.get("/v1/vms/" + vmId + "/files/%2Ftmp%2Fbig").status()).isEqualTo(404);
    }

    @Test
    void imagesRoutesRefuseMalformedInputAndChangeNothing() {
        int before = srv.get("/v1/images").json().get("images").size();
        // other tests of this class may have pulled (and failed) before: only this test's requests must add none
        int pullsBefore = srv.get("/v1/images").json().get("pulls").size();
        assertError(srv.post("/v1/images", "{}"), 400, "PULL_IMAGE_BAD_REQUEST");
        assertError(srv.post("/v1/images", "{not json"), 400, "BAD_REQUEST");
        assertError(srv.post("/v1/images", "{\"image\":\"no such scheme:::\"}"), 400, "INVALID_IMAGE");
        assertError(srv.get("/v1/images/not-a-digest"), 400, "INVALID_IMAGE_DIGEST");
        assertError(srv.delete("/v1/images/sha256:xyz"), 400, "INVALID_IMAGE_DIGEST");
        assertError(srv.get("/v1/images/sha256:" + "0".repeat(64)), 404, "IMAGE_NOT_FOUND");
        assertError(srv.delete("/v1/images/sha256:" + "0".repeat(64)), 404, "IMAGE_NOT_FOUND");
        assertThat(srv.get("/v1/images").json().get("images").size()).isEqualTo(before);
        assertThat(srv.get("/v1/images").json().get("pulls").size()).isEqualTo(pullsBefore);
    }

    @Test
    void authIsRequiredOnEveryV1RouteButNotOnHealth() {
        assertError(srv.call("GET", "/v1/vms", null, null), 401, "UNAUTHORIZED");
        assertError(srv.call("GET", "/v1/vms", null, "wrong"), 401, "UNAUTHORIZED");
        assertError(srv.call("POST", "/v1/vms", "{}", "wrong"), 401, "UNAUTHORIZED");
        assertThat(srv.call("GET", "/healthz", null, null).status()).isEqualTo(200);
        assertThat(srv.call("GET", "/openapi.json", null, null).status()).isEqualTo(200);
    }

    @Test
    void badServiceRequestsAreRefusedAndChangeNothing() {
        String base = "/v1/vms/" + vmId + "/systemd";
        assertError(srv.post(base + "/services", null), 400, "BAD_REQUEST");
        assertError(srv.post(base + "/services", "{\"name\":\"x\",\"mode\":\"service\"}"), 400, "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/services", "{\"name\":\"x y\",\"mode\":\"service\",\"exec\":[\"true\"]}"), 400,
                "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/services", "{\"name\":\"x\",\"mode\":\"service\",\"exec\":[\"true\"],\"requires\":[\"nope\"]}"),
                400, "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/services", "{\"name\":\"x\",\"mode\":\"oneshot\",\"exec\":[\"true\"],\"readySignal\":true}"),
                400, "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/services", "{\"name\":\"x\",\"mode\":\"service\",\"exec\":[\"true\"],\"watchdogSec\":-5}"),
                400, "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/start", null), 400, "BAD_REQUEST");
        assertError(srv.post(base + "/start", "{\"services\":[]}"), 400, "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/stop", "{\"services\":[{}]}"), 400, "SERVICE_BAD_REQUEST");
        assertError(srv.post(base + "/restart", "{\"services\":\"x\"}"), 400, "BAD_REQUEST");
        assertError(srv.get(base + "/services/nope/status"), 404, "SERVICE_NOT_FOUND");
        assertError(srv.get(base + "/services/nope/logs"), 404, "SERVICE_NOT_FOUND");
        assertError(srv.delete(base + "/services/nope"), 404, "SERVICE_NOT_FOUND");
        assertError(srv.get("/v1/vms/aaaaaaaaaaaaaaaaaaaa/systemd/services"), 404, "VM_NOT_FOUND");
        assertError(srv.post("/v1/vms/aaaaaaaaaaaaaaaaaaaa/systemd/start", "{\"services\":[{\"id\":\"a\"}]}"), 404, "VM_NOT_FOUND");
        assertThat(srv.post(base + "/services", "{\"name\":\"real\",\"mode\":\"oneshot\",\"exec\":[\"true\"]}").status()).isEqualTo(200);
        try {
            assertError(srv.get(base + "/services/real/logs?lines=0"), 400, "SERVICE_BAD_REQUEST");
            assertError(srv.get(base + "/services/real/logs?lines=many"), 400, "SERVICE_BAD_REQUEST");
            assertError(srv.get(base + "/services/real/logs?since=yesterday"), 400, "SERVICE_BAD_REQUEST");
        } finally {
            srv.delete(base + "/services/real");
        }
        // none of the refused requests left a service behind
        assertThat(srv.get(base + "/services").json().get("services")).isEmpty();
    }

    static int vmCount() {
        List<Vm> all = srv.server.lifecycle().list(new VmQuery(true, java.util.Map.of(), 0, 0));
        return all.size();
    }
}
