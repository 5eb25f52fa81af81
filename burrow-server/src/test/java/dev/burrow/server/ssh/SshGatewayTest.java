package dev.burrow.server.ssh;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;

/**
 * The SSH gateway driven by Debian's OpenSSH client (ssh, sftp, ssh -L, ssh-keyscan, ssh-keygen) on loopback,
 * with identities, permissions and tokens made through the HTTP identity API.
 */
class SshGatewayTest {
    static TestServer srv;
    static String vm;
    static String identity;
    static String token;
    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        HostRequirements.requireCommand("ssh");
        HostRequirements.requireCommand("sftp");
        srv = TestServer.start("builtin:busybox", null, cfg -> cfg.withSsh(new ServerConfig.Ssh(null, 0)));
        vm = srv.createVm("{}");
        identity = srv.post("/identity/v1/identities", null).json().get("id").asText();
        assertThat(srv.post("/identity/v1/identities/" + identity + "/permissions/vm/" + vm, "{}").status()).isEqualTo(200);
        token = srv.post("/identity/v1/identities/" + identity + "/tokens", null).json().get("token").asText();
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    record Run(int exit, String out, String err) { }

    static List<String> sshBase(String... extra) {
        List<String> a = new ArrayList<>(List.of("ssh", "-F", "/dev/null", "-p", Integer.toString(srv.server.sshPort()),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "PubkeyAuthentication=no", "-o", "PasswordAuthentication=no",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"));
        a.addAll(List.of(extra));
        return a;
    }

    static Run run(List<String> argv, String stdin) throws IOException, InterruptedException {
        Path in = Files.createTempFile(tmp, "in", "");
        Files.writeString(in, stdin == null ? "" : stdin);
        Path out = Files.createTempFile(tmp, "out", "");
        Path err = Files.createTempFile(tmp, "err", "");
        Process p = new ProcessBuilder(argv).redirectInput(in.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("timed out: " + argv);
        }
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    static Run ssh(String user, String command) throws IOException, InterruptedException {
        List<String> a = sshBase();
        a.addAll(List.of(user + "@127.0.0.1", "--", command));
        return run(a, null);
    }

    @Test
    void commandsRunInTheVmWithStdinAndTheRemoteExitCode() throws Exception {
        Run r = ssh(vm + ":" + token, "hostname; echo to-err >&2; exit 3");
        assertThat(r.exit()).as(r.err()).isEqualTo(3);
        assertThat(r.out()).isEqualTo(vm + "\n");
        assertThat(r.err()).contains("to-err");
        List<String> a = sshBase();
        a.addAll(List.of(vm + ":" + token + "@127.0.0.1", "--", "tee /tmp/from-ssh | wc -c"));
        Run piped = run(a, "x".repeat(100_000));
        assertThat(piped.out().strip()).isEqualTo("100000");
        assertThat(srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"wc -c < /tmp/from-ssh\"}").json()
                .get("stdout").asText().strip()).isEqualTo("100000");
    }

    @Test
    void aTerminalIsAllocatedWhenAskedFor() throws Exception {
        List<String> a = sshBase("-tt");
        a.addAll(List.of(vm + ":" + token + "@127.0.0.1", "tty; echo TERM=$TERM; exit 5"));
        Run r = run(a, null);
        assertThat(r.exit()).as(r.err()).isEqualTo(5);
        assertThat(r.out()).contains("/dev/pts/").contains("TERM=");
        Run noTty = ssh(vm + ":" + token, "tty");
        assertThat(noTty.out()).contains("not a tty");
    }

    /**
     * The real OpenSSH client on a terminal of its own (a host pseudo-terminal the test holds): resizing that
     * terminal makes ssh send a window-change, which must reach the shell inside the VM.
     */
    @Test
    void anInteractiveShellFollowsWindowResizes() throws Exception {
        try (var pty = dev.burrow.driver.runc.internal.HostPty.open(100, 30)) {
            List<String> a = new ArrayList<>(List.of("setsid", "-c"));
            a.addAll(sshBase("-tt"));
            a.add(vm + ":" + token + "@127.0.0.1");
            java.io.File tty = new java.io.File(pty.slavePath());
            Process ssh = new ProcessBuilder(a).redirectInput(tty).redirectOutput(tty).redirectError(tty).start();
            StringBuffer screen = new StringBuffer();
            Thread reader = Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[4096];
                try {
                    int n;
                    while ((n = pty.output().read(buf, 0, buf.length)) > 0) screen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                } catch (IOException ignored) {
                    // closed
                }
            });
            try {
                type(pty, "stty size\n");
                awaitScreen(screen, "30 100");
                pty.resize(132, 43);
                // the resize travels ssh -> gateway -> runc -> the VM's terminal: ask until it arrived
                long deadline = System.currentTimeMillis() + 60_000;
                while (!screen.toString().contains("43 132")) {
                    if (System.currentTimeMillis() > deadline) throw new AssertionError("no resize on screen: " + screen);
                    type(pty, "stty size\n");
                    Thread.sleep(300);
                }
                type(pty, "exit 6\n");
                assertThat(ssh.waitFor(20, TimeUnit.SECONDS)).isTrue();
                assertThat(ssh.exitValue()).isEqualTo(6);
            } finally {
                ssh.destroyForcibly();
            }
        }
    }

    private static void type(dev.burrow.driver.runc.internal.HostPty pty, String keys) throws IOException {
        pty.input().write(keys.getBytes(StandardCharsets.UTF_8));
    }

    private static void awaitScreen(StringBuffer screen, String expected) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        while (!screen.toString().contains(expected)) {
            if (System.currentTimeMillis() > deadline) throw new AssertionError("no '" + expected + "' on screen: " + screen);
            Thread.sleep(50);
        }
    }

    @Test
    void badTokensUnknownVmsAndMalformedNamesAreRefused() throws Exception {
        assertThat(ssh(vm + ":bt_wrongwrongwrongwrongwrong", "true").exit()).isEqualTo(255);
        String other = srv.createVm("{}");
        Run r = ssh(other + ":" + token, "true");
        assertThat(r.exit()).as("a VM the identity has no permission on").isEqualTo(255);
        assertThat(r.err()).contains("Permission denied");
        assertThat(ssh("nosuchvm000000000000:" + token, "true").exit()).isEqualTo(255);
        assertThat(ssh("Not/A+Valid:Name", "true").exit()).isEqualTo(255);
        assertThat(srv.delete("/v1/vms/" + other).status()).isEqualTo(200);
    }

    @Test
    void allowedUsersLimitWhoTheIdentityMayBe() throws Exception {
        String id = srv.post("/identity/v1/identities", null).json().get("id").asText();
        assertThat(srv.post("/identity/v1/identities/" + id + "/permissions/vm/" + vm, "{\"allowedUsers\":[\"nobody\"]}").status()).isEqualTo(200);
        String t = srv.post("/identity/v1/identities/" + id + "/tokens", null).json().get("token").asText();
        Run asNobody = ssh(vm + "+nobody:" + t, "id -u");
        assertThat(asNobody.exit()).as(asNobody.err()).isZero();
        assertThat(asNobody.out().strip()).isEqualTo("65534");
        assertThat(ssh(vm + ":" + t, "id -u").exit()).as("root is not in allowedUsers").isEqualTo(255);
    }

    /** A VM made from a Dockerfile with USER logs in as that user unless the name asks for another (as exec-await does). */
    @Test
    void aLoginWithoutUserIsTheUserTheVmsImageSetsAndAnExplicitOneWins() throws Exception {
        String dockerfile = "FROM builtin:busybox\\nRUN echo 'app:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd"
                + " && echo 'app:x:1000:' >> /etc/group\\nUSER app\\n";
        String v = srv.createVm("{\"template\":{\"baseImage\":{\"dockerfileContent\":\"" + dockerfile + "\"}}}");
        assertThat(srv.post("/identity/v1/identities/" + identity + "/permissions/vm/" + v, "{}").status()).isEqualTo(200);
        Run asDefault = ssh(v + ":" + token, "id -un");
        assertThat(asDefault.exit()).as(asDefault.err()).isZero();
        assertThat(asDefault.out().strip()).isEqualTo("app");
        assertThat(ssh(v + "+root:" + token, "id -un").out().strip()).isEqualTo("root");
        assertThat(ssh(vm + ":" + token, "id -un").out().strip()).as("a VM from a plain image: root").isEqualTo("root");
        assertThat(srv.delete("/v1/vms/" + v).status()).isEqualTo(200);
    }

    @Test
    void aRevokedTokenIsRefusedOnTheOpenSessionsNextChannel() throws Exception {
        var created = srv.post("/identity/v1/identities/" + identity + "/tokens", null).json();
        String secret = created.get("token").asText();
        Path control = tmp.resolve("cm-" + System.nanoTime());
        List<String> master = sshBase("-M", "-S", control.toString(), "-f", "-N");
        master.add(vm + ":" + secret + "@127.0.0.1");
        assertThat(run(master, null).exit()).isZero();
        try {
            List<String> viaMaster = sshBase("-S", control.toString());
            viaMaster.addAll(List.of(vm + ":" + secret + "@127.0.0.1", "--", "echo second-channel"));
            assertThat(run(viaMaster, null).out()).isEqualTo("second-channel\n");
            assertThat(srv.delete("/identity/v1/identities/" + identity + "/tokens/" + created.get("id").asText()).status()).isEqualTo(200);
            Run refused = run(viaMaster, null);
            assertThat(refused.exit()).isNotZero();
            assertThat(refused.out()).doesNotContain("second-channel");
            assertThat(ssh(vm + ":" + secret, "true").exit()).as("new login with the revoked token").isEqualTo(255);
        } finally {
            List<String> exit = sshBase("-S", control.toString(), "-O", "exit");
            exit.add("127.0.0.1");
            run(exit, null);
        }
    }

    @Test
    void sftpWorksInsideTheVmAndCannotFollowVmSymlinksOntoTheHost() throws Exception {
        Path hostSecret = tmp.resolve("host-secret.txt");
        Files.writeString(hostSecret, "HOST-ONLY");
        srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"mkdir -p /sftp && ln -sf " + hostSecret + " /sftp/escape && ln -sfn / /sftp/root\"}");
        Path upload = tmp.resolve("up.bin");
        byte[] data = new byte[300_000];
        new java.util.Random(7).nextBytes(data);
        Files.write(upload, data);
        Path batch = tmp.resolve("batch");
        Path down = tmp.resolve("down.bin");
        Path leaked = tmp.resolve("leaked.txt");
        Files.writeString(batch, "put " + upload + " /sftp/up.bin\nget /sftp/up.bin " + down + "\nls /sftp\n-get /sftp/escape " + leaked + "\n");
        List<String> a = new ArrayList<>(List.of("sftp", "-F", "/dev/null", "-P", Integer.toString(srv.server.sshPort()),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive",
                // sftp reads "user:token@host" as host:path, so the user name goes in an option.
                "-b", batch.toString(), "-o", "User=" + vm + ":" + token, "127.0.0.1"));
        Run r = run(a, null);
        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        assertThat(Files.readAllBytes(down)).isEqualTo(data);
        assertThat(r.out()).contains("up.bin");
        assertThat(leaked).as("the VM's symlink resolves inside the VM, where the host file does not exist").doesNotExist();
        assertThat(srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"wc -c < /sftp/up.bin\"}").json()
                .get("stdout").asText().strip()).isEqualTo("300000");
        // The sftp-server the VM runs is Burrow's, on a read-only mount the VM cannot alter.
        Run tamper = ssh(vm + ":" + token, "echo x > /.burrow/sftp-server");
        assertThat(tamper.exit()).isNotZero();
        assertThat(tamper.err()).contains("Read-only file system");
    }

    @Test
    void localPortForwardingReachesTheVmsLoopback() throws Exception {
        srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"mkdir -p /www && echo served-from-vm > /www/index.html"
                + " && httpd -p 127.0.0.1:7080 -h /www\"}");
        int local;
        try (ServerSocket s = new ServerSocket(0)) {
            local = s.getLocalPort();
        }
        List<String> a = sshBase("-N", "-o", "ExitOnForwardFailure=yes", "-L", local + ":localhost:7080");
        a.add(vm + ":" + token + "@127.0.0.1");
        java.time.Instant forwardStarted = java.time.Instant.now();
        Process fwd = new ProcessBuilder(a).redirectErrorStream(true).redirectOutput(tmp.resolve("fwd.log").toFile()).start();
        try {
            HttpClient http = HttpClient.newHttpClient();
            String body = null;
            for (int i = 0; i < 100 && body == null; i++) {
                try {
                    body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + local + "/")).timeout(Duration.ofSeconds(5)).build(),
                            HttpResponse.BodyHandlers.ofString()).body();
                } catch (IOException notYet) {
                    Thread.sleep(100);
                }
            }
            assertThat(body).isEqualTo("served-from-vm\n");
            // forwarded traffic is the VM's network activity
            java.time.Instant seen = null;
            for (int i = 0; i < 1200 && seen == null; i++) {
                var v = srv.get("/v1/vms/" + vm).json().get("lastNetworkActivity");
                if (v != null && !v.isNull() && !java.time.Instant.parse(v.asText()).isBefore(forwardStarted.minusMillis(5))) {
                    seen = java.time.Instant.parse(v.asText());
                } else {
                    Thread.sleep(50);
                }
            }
            assertThat(seen).as("lastNetworkActivity after a port forward").isNotNull();
        } finally {
            fwd.destroy();
            fwd.waitFor(10, TimeUnit.SECONDS);
        }
        // Only the VM's own loopback is reachable: a host address is refused, and so is remote forwarding.
        List<String> toHost = sshBase("-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22");
        toHost.add(vm + ":" + token + "@127.0.0.1");
        assertThat(run(toHost, null).exit()).isEqualTo(255);
    }

    @Test
    void deletingTheVmEndsItsSessionsAndLeavesNothing() throws Exception {
        String v = srv.createVm("{}");
        assertThat(srv.post("/identity/v1/identities/" + identity + "/permissions/vm/" + v, "{}").status()).isEqualTo(200);
        List<String> a = sshBase("-tt");
        a.addAll(List.of(v + ":" + token + "@127.0.0.1", "echo started; sleep 600"));
        Process session = new ProcessBuilder(a).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
        byte[] first = session.getInputStream().readNBytes("started".length());
        assertThat(new String(first, StandardCharsets.UTF_8)).isEqualTo("started");
        assertThat(srv.delete("/v1/vms/" + v).status()).isEqualTo(200);
        assertThat(session.waitFor(20, TimeUnit.SECONDS)).as("the session ends with its VM").isTrue();
        assertThat(dev.burrow.server.HostInspection.leftovers(v, srv.dataDir, srv.server.nodeId())).isEmpty();
        // The gateway keeps no host process for it either (runc exec relays, pseudo-terminal holders).
        assertThat(ProcessHandle.current().descendants().filter(p -> p.info().commandLine().orElse("").contains(v)).toList()).isEmpty();
    }

    @Test
    void sessionTrafficCountsAsActivity() throws Exception {
        String v = srv.createVm("{}");
        assertThat(srv.post("/identity/v1/identities/" + identity + "/permissions/vm/" + v, "{}").status()).isEqualTo(200);
        java.time.Instant created = java.time.Instant.parse(srv.get("/v1/vms/" + v).json().get("lastActivityAt").asText());
        Run r = ssh(v + ":" + token, "for i in 1 2 3 4 5 6 7; do echo tick; sleep 1; done");
        assertThat(r.out()).contains("tick");
        java.time.Instant after = java.time.Instant.parse(srv.get("/v1/vms/" + v).json().get("lastActivityAt").asText());
        // The session's output kept touching the VM while it ran (at most every 5 s), not only at login.
        assertThat(Duration.between(created, after)).isGreaterThanOrEqualTo(Duration.ofSeconds(5));
        assertThat(srv.delete("/v1/vms/" + v).status()).isEqualTo(200);
    }

    @Test
    void aSuspendedVmResumesOnLogin() throws Exception {
        String v = srv.createVm("{}");
        assertThat(srv.post("/identity/v1/identities/" + identity + "/permissions/vm/" + v, "{}").status()).isEqualTo(200);
        assertThat(srv.post("/v1/vms/" + v + "/suspend", null).status()).isEqualTo(200);
        Run r = ssh(v + ":" + token, "echo awake");
        assertThat(r.out()).as(r.err()).isEqualTo("awake\n");
        assertThat(srv.get("/v1/vms/" + v).json().get("state").asText()).isEqualTo("running");
        assertThat(srv.delete("/v1/vms/" + v).status()).isEqualTo(200);
    }

    @Test
    void publicKeysRegisteredToAnIdentityLogIn() throws Exception {
        HostRequirements.requireCommand("ssh-keygen");
        Path key = tmp.resolve("id_ed25519");
        assertThat(run(List.of("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key.toString()), null).exit()).isZero();
        String pub = Files.readString(tmp.resolve("id_ed25519.pub")).strip();
        var added = srv.post("/identity/v1/identities/" + identity + "/ssh-keys",
                "{\"publicKey\":\"" + pub + "\"}");
        assertThat(added.status()).as(added.body()).isEqualTo(200);
        List<String> a = new ArrayList<>(List.of("ssh", "-F", "/dev/null", "-p", Integer.toString(srv.server.sshPort()),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "IdentitiesOnly=yes", "-i", key.toString(), "-o", "PreferredAuthentications=publickey",
                vm + "@127.0.0.1", "--", "echo by-key"));
        Run r = run(a, null);
        assertThat(r.out()).as(r.err()).isEqualTo("by-key\n");
    }

    @Test
    void theHostKeyStaysTheSameAcrossRestarts() throws Exception {
        HostRequirements.requireCommand("ssh-keyscan");
        Path data = Files.createTempDirectory("burrow-srv-");
        TestServer first = TestServer.start("builtin:busybox", data, cfg -> cfg.withSsh(new ServerConfig.Ssh(null, 0)));
        String before;
        try {
            before = keyscan(first.server.sshPort());
            assertThat(Files.getPosixFilePermissions(data.resolve("ssh/host_key")))
                    .containsExactlyInAnyOrder(java.nio.file.attribute.PosixFilePermission.OWNER_READ,
                            java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        } finally {
            first.server.close(); // stop only; the data dir is reused
        }
        try (TestServer again = TestServer.start("builtin:busybox", data, cfg -> cfg.withSsh(new ServerConfig.Ssh(null, 0)))) {
            assertThat(keyscan(again.server.sshPort())).isEqualTo(before);
        }
    }

    @Test
    void theCliOpensASessionWithAThrowawayIdentity() throws Exception {
        int identitiesBefore = srv.get("/identity/v1/identities?limit=1000").json().get("total").asInt();
        int code = new picocli.CommandLine(new dev.burrow.server.Main()).execute("vm", "ssh", "--url", srv.url(),
                "--api-key", TestServer.KEY, "--ssh-port", Integer.toString(srv.server.sshPort()),
                "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR", vm,
                "--", "echo cli-was-here > /tmp/cli; exit 4");
        assertThat(code).isEqualTo(4);
        assertThat(srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"cat /tmp/cli\"}").json()
                .get("stdout").asText()).isEqualTo("cli-was-here\n");
        assertThat(srv.get("/identity/v1/identities?limit=1000").json().get("total").asInt())
                .as("the throwaway identity is gone").isEqualTo(identitiesBefore);
    }

    private static String keyscan(int port) throws Exception {
        Run r = run(List.of("ssh-keyscan", "-p", Integer.toString(port), "-t", "ecdsa", "127.0.0.1"), null);
        String key = r.out().lines().filter(l -> l.contains("ecdsa")).findFirst().orElseThrow(() -> new AssertionError(r.err()));
        return key.substring(key.indexOf("ecdsa"));
    }
}
