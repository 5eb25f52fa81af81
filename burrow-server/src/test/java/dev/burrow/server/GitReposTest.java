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
import dev.burrow.server.net.OutsideNetwork;

/**
 * {@code gitRepos} and {@code git.repos} over HTTP against real runc, cloned from a real {@code git daemon} in a
 * test-made "outside" namespace serving a repository this test makes: branches, tags and commits as {@code rev},
 * modes and links kept, failures that fail the create with git's message and leave nothing, refused transports, a
 * checkout that cannot escape the VM through a link the VM made, and clones that go through the VM's own network
 * (its egress policy applies; the host, its loopback included, is out of reach).
 */
class GitReposTest {
    static TestServer srv;
    static Path work;
    static Process daemon;
    static Process hostDaemon;
    static int hostPort;
    static OutsideNetwork outside;
    static String url;
    static String firstCommit;

    @BeforeAll
    static void start() throws Exception {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("git");
        HostRequirements.requireCommand("nft");
        HostRequirements.requireCommand("nsenter");
        outside = OutsideNetwork.create();
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
        // the served repository: in the test's outside namespace (reached by VMs through NAT and by name through
        // their DNS forwarder), and the same on the host on every address (which no VM clone may reach)
        daemon = new ProcessBuilder("ip", "netns", "exec", outside.netns, "git", "daemon", "--export-all", "--reuseaddr",
                "--informative-errors", "--listen=" + outside.address, "--port=9418", "--base-path=" + served, served.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("daemon.log").toFile()).start();
        awaitPort(outside.address, 9418, daemon, work.resolve("daemon.log"));
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            hostPort = s.getLocalPort();
        }
        hostDaemon = new ProcessBuilder("git", "daemon", "--export-all", "--reuseaddr", "--informative-errors", "--verbose",
                "--port=" + hostPort, "--base-path=" + served, served.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("host-daemon.log").toFile()).start();
        awaitPort("127.0.0.1", hostPort, hostDaemon, work.resolve("host-daemon.log"));
        url = "git://repo." + OutsideNetwork.DOMAIN + ":9418/repo.git";
        srv = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withNetwork(new ServerConfig.Network(true, null, List.of(outside.dnsUpstream()), List.of(outside.link()))));
    }

    private static void awaitPort(String host, int port, Process daemon, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 500);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !daemon.isAlive()) {
                    throw new IllegalStateException("git daemon did not start: " + Files.readString(log));
                }
                Thread.sleep(100);
            }
        }
    }

    @AfterAll
    static void stop() throws IOException {
        if (srv != null) srv.closeAndDelete();
        for (Process d : new Process[] {daemon, hostDaemon}) {
            if (d == null) continue;
            d.descendants().forEach(ProcessHandle::destroyForcibly);
            d.destroyForcibly();
        }
        if (outside != null) outside.close();
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
        if (vmsBefore == 0) {
            // a VM rolled back after a failed clone leaves no network namespace behind
            try (var ns = Files.list(Path.of("/run/netns"))) {
                assertThat(ns.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("burrow-" + srv.server.nodeId() + "-")).toList())
                        .as("VM network namespaces left").isEmpty();
            }
        }
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

    /**
     * The clone runs in the VM's network namespace: a repository the host serves (on its loopback, or on the VM's
     * gateway address) is out of reach and the create fails with a clear 400; a deny-all VM cannot clone unless
     * the name is allowed; the outside reached by name works (through the VM's DNS forwarder).
     */
    @Test
    void clonesGoThroughTheVmsNetworkAndFollowItsEgressPolicy() throws Exception {
        int before = liveVms();
        String hostUrl = "git://127.0.0.1:" + hostPort + "/repo.git";
        // control: the host itself can clone from its own daemon
        git(work, "clone", "-q", hostUrl, work.resolve("host-control").toString());
        String logBefore = Files.readString(work.resolve("host-daemon.log"));

        var loopback = srv.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"" + hostUrl + "\",\"path\":\"/work/x\"}]}");
        assertThat(loopback.status()).as(loopback.body()).isEqualTo(400);
        assertThat(loopback.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
        assertThat(loopback.json().get("message").asText()).contains("127.0.0.1").contains("fatal:");
        assertNothingLeft(before);

        // the host's address on the VM bridge (the gateway) serves the daemon to the host, not to a VM
        String probe = srv.createVm("{}");
        String gateway = srv.get("/v1/vms/" + probe + "/network").json().get("gateway").asText();
        srv.delete("/v1/vms/" + probe);
        var viaGateway = srv.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"git://" + gateway + ":" + hostPort
                + "/repo.git\",\"path\":\"/work/x\"}]}");
        assertThat(viaGateway.status()).as(viaGateway.body()).isEqualTo(400);
        assertThat(viaGateway.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
        assertThat(viaGateway.json().get("message").asText()).contains("refused");
        assertNothingLeft(before);
        String logAfter = Files.readString(work.resolve("host-daemon.log"));
        assertThat(logAfter.substring(logBefore.length())).as("no VM clone reached the host's daemon").doesNotContain("Connection from");

        // deny-all: by name nothing resolves, by address the connection is refused
        for (String u : List.of(url, "git://" + outside.address + ":9418/repo.git")) {
            var denied = srv.post("/v1/vms", "{\"network\":{\"egress\":\"deny-all\"},\"gitRepos\":[{\"repo\":\"" + u
                    + "\",\"path\":\"/work/x\"}]}");
            assertThat(denied.status()).as(u + ": " + denied.body()).isEqualTo(400);
            assertThat(denied.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
            assertNothingLeft(before);
        }

        // deny-all with the repository's name allowed: the clone works, and the VM's own policy is the same
        String vm = srv.createVm("{\"network\":{\"egress\":\"deny-all\",\"allowDomains\":[\"repo." + OutsideNetwork.DOMAIN
                + "\"]},\"gitRepos\":[{\"repo\":\"" + url + "\",\"path\":\"/work/app\"}]}");
        try {
            assertThat(sh(vm, "cat /work/app/README")).isEqualTo("v2\n");
            assertThat(outside.queries()).contains("repo." + OutsideNetwork.DOMAIN);
        } finally {
            srv.delete("/v1/vms/" + vm);
        }
        assertNothingLeft(before);
    }

    /** Without VM networking a VM has only its own loopback: a clone of anything else fails with a clear 400. */
    @Test
    void withoutVmNetworkingACloneFailsClearly() {
        try (TestServer offline = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withNetwork(new ServerConfig.Network(false, null, List.of(), List.of())))) {
            var r = offline.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"git://" + outside.address + ":9418/repo.git\",\"path\":\"/w\"}]}");
            assertThat(r.status()).as(r.body()).isEqualTo(400);
            assertThat(r.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
            assertThat(r.json().get("message").asText()).contains("without networking");
            assertThat(offline.server.lifecycle().list(VmQuery.all())).isEmpty();
            // the host's loopback is not the VM's: a loopback URL reaches the VM's own (empty) loopback
            var lo = offline.post("/v1/vms", "{\"gitRepos\":[{\"repo\":\"git://127.0.0.1:" + hostPort + "/repo.git\",\"path\":\"/w\"}]}");
            assertThat(lo.status()).as(lo.body()).isEqualTo(400);
            assertThat(lo.json().get("code").asText()).isEqualTo("GIT_CLONE_FAILED");
            assertThat(offline.server.lifecycle().list(VmQuery.all())).isEmpty();
        }
    }
}
