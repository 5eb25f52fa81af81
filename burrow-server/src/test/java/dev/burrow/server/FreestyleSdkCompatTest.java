package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.http.Json;

/**
 * The vendor's own {@code freestyle-sandboxes} npm SDK, unmodified, pointed at Burrow with
 * FREESTYLE_API_URL: create, exec, files, list, suspend/start/stop/kill, typed errors, delete, services
 * ({@code systemd} at create, {@code vm.systemd}), domain mappings, identities (the flow of the SDK's own
 * {@code ssh} command) and snapshots built from templates ({@code snapshots.ensure}, {@code vms.create({snapshot:
 * VmSpec})} with a baseImage).
 */
class FreestyleSdkCompatTest {

    @Test
    void vendorSdkWorksUnmodified() throws Exception {
        HostRequirements.requireCommand("node");
        HostRequirements.requireCommand("npm");
        Path work = Path.of("target", "sdk-compat").toAbsolutePath();
        Files.createDirectories(work);
        for (String f : new String[] {"package.json", "package-lock.json", "sdk-compat.mjs"}) {
            Files.copy(Path.of("src/test/node", f), work.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        if (!Files.isDirectory(work.resolve("node_modules/freestyle-sandboxes"))) {
            run(work, 300, "npm", "ci", "--no-audit", "--no-fund", "--omit=optional");
        }
        try (TestServer srv = TestServer.start("builtin:busybox")) {
            ProcessBuilder pb = new ProcessBuilder("node", "sdk-compat.mjs").directory(work.toFile());
            pb.environment().put("FREESTYLE_API_URL", srv.url());
            pb.environment().put("FREESTYLE_API_KEY", TestServer.KEY);
            pb.redirectErrorStream(false);
            Process p = pb.start();
            byte[] stdout = p.getInputStream().readAllBytes();
            String stderr = new String(p.getErrorStream().readAllBytes());
            assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("node failed: " + stderr + new String(stdout)).isZero();
            JsonNode out = Json.MAPPER.readTree(stdout);

            assertThat(out.get("vmId").asText()).matches("[a-z0-9]{20}");
            assertThat(out.get("exec").get("stdout").asText()).isEqualTo("from-sdk\n");
            assertThat(out.get("exec").get("stderr").asText()).isEqualTo("err\n");
            assertThat(out.get("exec").get("statusCode").asInt()).isEqualTo(3);
            assertThat(out.get("readBack").asText()).isEqualTo("hello from the SDK ✓");
            assertThat(out.get("dir").toString()).contains("\"name\":\"hello.txt\"").contains("\"kind\":\"file\"");
            assertThat(out.get("binary").toString()).isEqualTo("[0,1,2,254,255]");
            assertThat(out.get("exists").asBoolean()).isTrue();
            assertThat(out.get("missingExists").asBoolean()).isFalse();
            assertThat(out.get("info").get("state").asText()).isEqualTo("running");
            assertThat(out.get("listed").asBoolean()).isTrue();
            assertThat(out.get("afterSuspend").asText()).isEqualTo("suspended");
            assertThat(out.get("afterStart").asText()).isEqualTo("running");
            assertThat(out.get("afterStop").asText()).isEqualTo("stopped");
            assertThat(out.get("afterKill").asText()).isEqualTo("stopped");
            assertThat(out.get("notFound").asText()).isEqualTo("VmNotFoundError");
            assertThat(out.get("fileNotFound").asText()).isEqualTo("FileNotFoundError");
            assertThat(out.get("afterDelete").asText()).isEqualTo("VmNotFoundError");
            // a code the SDK knows arrives as its typed error; one it does not shows Burrow's description, not "undefined"
            assertThat(out.get("knownCode").get("name").asText()).isEqualTo("UserHomeInvalidError");
            assertThat(out.get("knownCode").get("message").asText()).startsWith("USER_HOME_INVALID: ").contains("sdkhome");
            assertThat(out.get("unknownCode").get("name").asText()).isEqualTo("Error");
            assertThat(out.get("unknownCode").get("message").asText())
                    .startsWith("Unknown error code: RESIZE_VM_BAD_REQUEST - ").contains("vcpuCount").doesNotContain("undefined");
            // the registry's claim about each code (the SDK's name and status, or Burrow's own) holds for this SDK
            JsonNode sdkCodes = out.get("sdkErrorCodes");
            for (ErrorCode code : ErrorCode.values()) {
                if (code.sdk) {
                    assertThat(sdkCodes.has(code.name())).as(code + " is the SDK's").isTrue();
                    assertThat(sdkCodes.get(code.name()).asInt()).as(code + " status").isEqualTo(code.status);
                } else {
                    assertThat(sdkCodes.has(code.name())).as(code + " is Burrow's own").isFalse();
                }
            }

            JsonNode dm = out.get("domains");
            assertThat(dm.get("mapped").get("domain").asText()).isEqualTo("sdk.burrow.test");
            assertThat(dm.get("mapped").get("vmId").asText()).isEqualTo(out.get("vmId").asText());
            assertThat(dm.get("mapped").get("vmPort").asInt()).isEqualTo(3000);
            assertThat(dm.get("listed")).hasSize(1);
            assertThat(dm.get("listed").get(0).get("id").asText()).isEqualTo(dm.get("mapped").get("id").asText());
            assertThat(dm.get("deleted").toString()).isEqualTo("{}");
            assertThat(dm.get("after").toString()).isEqualTo("[]");

            JsonNode id = out.get("identity");
            String vmId = out.get("vmId").asText();
            assertThat(id.get("identityId").asText()).isNotBlank();
            assertThat(id.get("grant").get("vmId").asText()).isEqualTo(vmId);
            assertThat(id.get("grant").get("identityId").asText()).isEqualTo(id.get("identityId").asText());
            assertThat(id.get("grant").get("allowedUsers").isNull()).isTrue();
            assertThat(id.get("token").asText()).matches("bt_[A-Za-z0-9_-]{43}");
            assertThat(id.get("permission").get("id").asText()).isEqualTo(id.get("grant").get("id").asText());
            assertThat(id.get("permissions").get("total").asInt()).isEqualTo(1);
            assertThat(id.get("updated").get("allowedUsers").toString()).isEqualTo("[\"root\"]");
            assertThat(id.get("tokensBefore").toString()).isEqualTo("[\"" + id.get("tokenId").asText() + "\"]");
            assertThat(id.get("listed").asBoolean()).isTrue();
            assertThat(id.get("revoke").toString()).isEqualTo("{}");
            assertThat(id.get("tokensAfter").toString()).isEqualTo("[]");
            assertThat(id.get("revokeVm").toString()).isEqualTo("{}");
            assertThat(id.get("delete").toString()).isEqualTo("{}");
            // the SDK has no class for this code and says so, with the code the server sent
            assertThat(id.get("afterDelete").asText()).contains("IDENTITY_NOT_FOUND");
            assertThat(srv.server.vmAccess().checkToken(vmId, id.get("token").asText(), "root").granted()).isFalse();
            assertThat(HostInspection.leftovers(out.get("vmId").asText(), srv.dataDir, srv.server.nodeId())).isEmpty();

            // systemd: create-time services, vm.systemd list/status/logs/create/stop/start/restart/delete, typed errors
            assertThat(out.get("helloStatus").get("subState").asText()).isEqualTo("exited");
            assertThat(out.get("helloStatus").get("loadState").asText()).isEqualTo("loaded");
            assertThat(out.get("loopStatus").get("activeState").asText()).isEqualTo("active");
            assertThat(out.get("svcList").toString()).isEqualTo("[\"hello\",\"loop\"]");
            // users at create, and vm.user({username}).exec() runs as that user
            assertThat(out.get("asUser").get("stdout").asText()).isEqualTo("sdkuser\n");
            assertThat(out.get("helloLogs").toString()).contains("hello-from-service");
            assertThat(out.get("added").get("serviceName").asText()).isEqualTo("added");
            assertThat(out.get("added").get("success").asBoolean()).isTrue();
            assertThat(out.get("duplicate").asText()).isEqualTo("ServiceAlreadyExistsError");
            assertThat(out.get("stopped").get("results").get(0).get("success").asBoolean()).isTrue();
            assertThat(out.get("addedAfterStop").asText()).isEqualTo("inactive");
            assertThat(out.get("started").get("results").get(0).get("success").asBoolean()).isTrue();
            assertThat(out.get("restarted").get("results").get(0).get("serviceId").asText()).isEqualTo("added");
            assertThat(out.get("deleted").get("success").asBoolean()).isTrue();
            assertThat(out.get("deletedStatus").asText()).isEqualTo("ServiceNotFoundError");
            // SDK "bash" services chained like runCommands; the deleteAfterSuccess step is gone afterwards
            assertThat(out.get("bashSteps").asText()).isEqualTo("one\ntwo\n");
            assertThat(out.get("bashStepsLeft").toString()).isEqualTo("[\"step-2\"]");
            // snapshots.ensure with a template (VmBaseImage + files): built once, the second call is the cached one;
            // vms.create({snapshot: VmSpec}) with a baseImage
            JsonNode t = out.get("templateSnapshot");
            assertThat(t.get("snapshotId").asText()).matches("sc-[a-z0-9]{20}");
            assertThat(t.get("again").asText()).isEqualTo(t.get("snapshotId").asText());
            assertThat(t.get("built").asText()).endsWith("\nfrom the template").startsWith("sdk-");
            assertThat(t.get("fromSpec").asText()).startsWith("spec-sdk-");
            assertThat(t.get("specSnapshotId").asText()).matches("sc-[a-z0-9]{20}");
            assertThat(t.get("deleted").get("snapshot_id").asText()).isEqualTo(t.get("snapshotId").asText());
            srv.closeAndDelete();
        }
    }

    private static void run(Path dir, int timeoutSeconds, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(timeoutSeconds, TimeUnit.SECONDS)).as(String.join(" ", cmd)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + output).isZero();
    }
}
