package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.burrow.core.store.VmQuery;
import dev.burrow.core.testing.HostRequirements;

/**
 * {@code gitRepos} and {@code git.repos} over HTTP against real runc, cloned from a real {@code git daemon} on
 * loopback serving a repository this test makes: branches, tags and commits as {@code rev}, modes and links kept,
 * failures that fail the create with git's message and leave nothing, refused transports, and a checkout that
 * cannot escape the VM through a link the VM made.
 */
class GitReposTest {
    static TestServer srv;
    static Path work;
    static Process daemon;
    static String url;
    static String firstCommit;

    @BeforeAll
    static void start() throws Exception {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("git");
        work = Files.createTempDirectory("burrow-git-test-");
        Path src = work.resolve("src");
        Files.createDirectories(src);
        git(src, "init", "-q", "-b", "main");
        Files.writeString(src.resolve("README"), "v1\n");
        Files.writeString(src.resolve("run.sh"), "#!/bin/sh\necho ran\n");
        Files.setPosixFilePermissions(src.resolve("run.sh"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createSymbolicLink(src.resolve("link"), Path.of("README"));
        Files.createDirectories(src.resolve("sub/dir"));
        Files.writeString(src.resolve("sub/dir/deep.txt"), "deep\n");
        git(src, "add", "-A");
        git(src, "commit", "-q", "-m", "first");
        firstCommit = git(src, "rev-parse", "HEAD").strip();
        git(src, "tag", "v1");
        git(src, "checkout", "-q", "-b", "feature");
        Files.writeString(src.resolve("feature.txt"), "feature\n");
        git(src, "add", "-A");
        git(src, "commit", "-q", "-m", "feature");
        git(src, "checkout", "-q", "main");
        Files.writeString(src.resolve("README"), "v2\n");
        git(src, "commit", "-q", "-am", "second");
        Path served = work.resolve("served");
        Files.createDirectories(served);
        git(work, "clone", "-q", "--bare", src.toString(), served.resolve("repo.git").toString());
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        daemon = new ProcessBuilder("git", "daemon", "--export-all", "--reuseaddr", "--informative-errors",
                "--listen=127.0.0.1", "--port=" + port, "--base-path=" + served, served.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("daemon.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                break;
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !daemon.isAlive()) {
                    throw new IllegalStateException("git daemon did not start: " + Files.readString(work.resolve("daemon.log")));
                }
                Thread.sleep(100);
            }
        }
        url = "git://127.0.0.1:" + port + "/repo.git";
        srv = TestServer.start("builtin:busybox");
    }

    @AfterAll
    static void stop() throws IOException {
        if (srv != null) srv.closeAndDelete();
        if (daemon != null) {
            daemon.descendants().forEach(ProcessHandle::destroyForcibly);
            daemon.destroyForcibly();
        }
        if (work != null) {
            try (var s = Files.walk(work)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    static String git(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("HOME", work.toString());
        pb.environment().put("GIT_CONFIG_NOSYSTEM", "1");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
        return out;
    }

    static String sh(String vm, String cmd) {
        var r = srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":" + ServicesApiTest.quote(cmd) + "}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("stdout").asText();
    }

    static int liveVms() {
        return srv.server.lifecycle().list(VmQuery.all()).size();
    }

    static void assertNothingLeft(int vmsBefore) throws IOException {
        assertThat(liveVms()).isEqualTo(vmsBefore);
        Path scratch = srv.dataDir.resolve("git-tmp");
        if (Files.exists(scratch)) {
            try (var s = Files.list(scratch)) {
                assertThat(s.toList()).as("clone scratch left behind").isEmpty();
            }
        }
    }

    @Test
    void reposAreClonedAtTheirRevWithModesAndLinks() throws IOException {
        String vm = srv.createVm("{\"gitRepos\":[{\"repo\":\"" + url + "\",\"path\":\"/work/app\"}],"
                + "\"git\":{\"config\":{\"user\":{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.invalid\"}},\"repos\":["
                + "{\"repo\":\"" + url + "\",\"path\":\"/work/v1\",\"rev\":\"v1\"},"
                + "{\"url\":\"" + url + "\",\"path\":\"/work/feature\",\"rev\":\"feature\"},"
                + "{\"repo\":\"" + url + "\",\"path\":\"/work/sha\",\"rev\":\"" + firstCommit + "\"}]}}");
        try {
            assertThat(sh(vm, "cat /work/app/README /work/v1/README /work/feature/feature.txt /work/sha/README"))
                    .isEqualTo("v2\nv1\nfeature\nv1\n");
            assertThat(sh(vm, "test -x /work/app/run.sh && /work/app/run.sh; test -x /work/app/README || echo not-exec"))
                    .isEqualTo("ran\nnot-exec\n");
            assertThat(sh(vm, "readlink /work/app/link; cat /work/app/sub/dir/deep.txt")).isEqualTo("README\ndeep\n");
            // a real clone: the .git directory came along, on the requested rev
            assertThat(sh(vm, "cat /work/app/.git/HEAD; cat /work/sha/.git/HEAD")).isEqualTo("ref: refs/heads/main\n" + firstCommit + "\n");
            assertThat(sh(vm, "cat /etc/gitconfig")).contains("name = \"Ada Lovelace\"").contains("email = \"ada@example.invalid\"");
            assertNothingLeft(liveVms());
        } finally {
            srv.delete("/v1/vms/" + vm);
        }
    }

    @Test
    void aFailedCloneFailsTheCreateWithGitsMessageAndLeavesNothing() throws IOException {
        int before = liveVms();
        var missing = srv.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"" + url.replace("repo.git", "missing.git")
                + "\",\"path\":\"/work/x\"}]}");
        assertThat(missing.status()).as(missing.body()).isEqualTo(400);
        assertThat(missing.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
        assertThat(missing.json().get("message").asText()).contains("missing.git").contains("fatal:");
        assertNothingLeft(before);

        var badRev = srv.post("/v1/vms", "{\"git\":{\"config\":{},\"repos\":[{\"repo\":\"" + url
                + "\",\"path\":\"/work/x\",\"rev\":\"no-such-branch\"}]}}");
        assertThat(badRev.status()).as(badRev.body()).isEqualTo(400);
        assertThat(badRev.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
        assertThat(badRev.json().get("message").asText()).contains("no-such-branch");
        assertNothingLeft(before);

        // a second repo failing after a first one cloned: the first clone is removed too
        var second = srv.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"" + url + "\",\"path\":\"/a\"},"
                + "{\"repo\":\"git://127.0.0.1:1/none.git\",\"path\":\"/b\"}]}");
        assertThat(second.status()).as(second.body()).isEqualTo(400);
        assertNothingLeft(before);

        // a target that exists and is not empty: the VM existed for a moment and is rolled back
        var occupied = srv.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"" + url + "\",\"path\":\"/etc\"}]}");
        assertThat(occupied.status()).as(occupied.body()).isEqualTo(400);
        assertThat(occupied.json().get("message").asText()).contains("not empty");
        assertNothingLeft(before);
    }

    @Test
    void transportsThatReachTheServersOwnFilesOrKeysAreRefused() {
        int before = liveVms();
        for (String bad : List.of("file:///etc", "/etc", "../x", "ssh://git@127.0.0.1/repo.git", "git@127.0.0.1:repo.git",
                "ext::sh -c touch% /tmp/pwned", "https://", "fd::3")) {
            var r = srv.post("/v1/vms", "{\"gitRepos\":[{\"repo\":" + ServicesApiTest.quote(bad) + ",\"path\":\"/x\"}]}");
            assertThat(r.status()).as(bad + ": " + r.body()).isEqualTo(400);
            assertThat(r.json().get("code").asText()).isEqualTo("CREATE_VM_BAD_REQUEST");
        }
        assertThat(Path.of("/tmp/pwned")).doesNotExist();
        assertThat(liveVms()).isEqualTo(before);
    }

    @Test
    void aCheckoutCannotEscapeTheVmThroughALinkTheVmMade() {
        String source = srv.createVm("{}");
        String forked = null;
        Path hostTarget = Path.of("/etc/burrow-escape-" + source);
        try {
            sh(source, "mkdir -p /data && ln -s /etc /data/link");
            String snap = srv.post("/v1/vms/" + source + "/snapshot", "{}").json().get("snapshotId").asText();
            forked = srv.createVm("{\"snapshotId\":\"" + snap + "\",\"gitRepos\":[{\"repo\":\"" + url
                    + "\",\"path\":\"/data/link/burrow-escape-" + source + "\"}]}");
            // the link was followed inside the VM: the checkout is in the VM's own /etc, not the host's
            assertThat(sh(forked, "cat /etc/burrow-escape-" + source + "/README")).isEqualTo("v2\n");
            assertThat(hostTarget).doesNotExist();
            srv.delete("/v1/vms/" + forked);
            forked = null;
            srv.delete("/v1/vms/" + source);
            srv.delete("/v1/vms/snapshots/" + snap);
        } finally {
            if (forked != null) srv.delete("/v1/vms/" + forked);
            assertThat(hostTarget).doesNotExist();
        }
    }
}
