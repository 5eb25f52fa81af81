package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The files API can never read or write outside the VM's root: not with {@code ..}, not through absolute
 * symlinks, not through relative symlinks that climb, not through symlinks the VM itself made pointing
 * at host paths. A host marker file proves nothing leaked and nothing was overwritten.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FileConfinementTest {
    static TestServer srv;
    static String id;
    static Path hostDir;
    static Path marker;
    static final String SECRET = "host-secret-" + System.nanoTime();

    @BeforeAll
    static void start() throws Exception {
        srv = TestServer.start("builtin:busybox");
        id = srv.createVm("{}");
        hostDir = Files.createTempDirectory("burrow-host-");
        marker = hostDir.resolve("marker.txt");
        Files.writeString(marker, SECRET);
        exec("ln -s " + hostDir + " /tmp/abs-dir-link && ln -s " + marker + " /tmp/abs-file-link"
                + " && ln -s ../../../../../../../../../../" + marker + " /tmp/rel-link"
                + " && ln -s /proc/1/root/" + marker + " /tmp/proc-link"
                + " && ln -s /tmp/loop-b /tmp/loop-a && ln -s /tmp/loop-a /tmp/loop-b");
    }

    @AfterAll
    static void stop() throws Exception {
        if (srv != null) {
            srv.delete("/v1/vms/" + id);
            srv.closeAndDelete();
        }
        if (marker != null) {
            Files.deleteIfExists(marker);
            Files.deleteIfExists(hostDir);
        }
    }

    static String exec(String cmd) {
        var r = srv.post("/v1/vms/" + id + "/exec-await", "{\"command\":\"" + cmd.replace("\"", "\\\"") + "\"}");
        assertThat(r.json().get("statusCode").asInt()).as(r.body()).isZero();
        return r.json().get("stdout").asText();
    }

    static TestServer.Response read(String path) {
        return srv.get("/v1/vms/" + id + "/files/" + URLEncoder.encode(path, StandardCharsets.UTF_8));
    }

    static TestServer.Response write(String path, String content) {
        return srv.put("/v1/vms/" + id + "/files/" + URLEncoder.encode(path, StandardCharsets.UTF_8),
                "{\"content\":\"" + Base64.getEncoder().encodeToString(content.getBytes()) + "\",\"encoding\":\"base64\"}");
    }

    @Test
    void dotDotIsRefused() {
        for (String p : new String[] {"/../../../" + marker, "/tmp/../../" + marker, "..", "/tmp/.."}) {
            var r = read(p);
            assertThat(r.status()).as(p).isEqualTo(400);
            assertThat(r.body()).doesNotContain(SECRET);
            assertThat(write(p, "pwned").status()).as(p).isEqualTo(400);
        }
    }

    @Test
    @Order(1) // before the write test puts files at the link targets inside the VM
    void symlinksResolveInsideTheVmRoot() throws Exception {
        for (String link : new String[] {"/tmp/abs-file-link", "/tmp/rel-link", "/tmp/abs-dir-link/marker.txt", "/tmp/proc-link"}) {
            var r = read(link);
            assertThat(r.body()).as(link).doesNotContain(SECRET);
            assertThat(r.body()).doesNotContain(Base64.getEncoder().encodeToString(SECRET.getBytes()));
            assertThat(r.status()).as(link + " " + r.body()).isEqualTo(404);
        }
        // the directory link lists the VM's (empty or missing) directory, never the host's
        assertThat(read("/tmp/abs-dir-link").body()).doesNotContain("marker.txt");
    }

    @Test
    @Order(2)
    void writesThroughSymlinksLandInsideTheVm() throws Exception {
        assertThat(write("/tmp/abs-file-link", "written-via-link").status()).isEqualTo(200);
        assertThat(write("/tmp/abs-dir-link/new.txt", "new-file").status()).isEqualTo(200);
        assertThat(write("/tmp/rel-link", "rel-written").status()).isIn(200);
        assertThat(Files.readString(marker)).isEqualTo(SECRET);
        assertThat(Files.exists(hostDir.resolve("new.txt"))).isFalse();
        // the writes exist at the link targets *inside* the VM
        assertThat(exec("cat " + marker)).isEqualTo("rel-written");
        assertThat(exec("cat " + hostDir + "/new.txt")).isEqualTo("new-file");
    }

    @Test
    void symlinkLoopsAreABadRequest() {
        var r = read("/tmp/loop-a");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.json().get("error").asText()).isEqualTo("FILES_BAD_REQUEST");
    }
}
