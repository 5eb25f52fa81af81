package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.error.BurrowException;

/** Interactive processes (pipes and terminals) and loopback port connections on a real VM. */
class RuncDriverProcessTest {
    private RuncTestHost host;
    private RuncDriver driver;
    private String vm;

    @BeforeEach
    void setUp() throws IOException {
        host = RuncTestHost.start();
        driver = host.driver;
        vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
    }

    @AfterEach
    void tearDown() {
        if (host != null) host.close();
    }

    @Test
    void pipesStreamStdinAndReportTheExitCode() throws Exception {
        try (SandboxProcess p = driver.spawn(vm, ProcessSpec.shell("read line; echo \"got $line\"; echo oops >&2; exit 7"))) {
            p.stdin().write("hello\n".getBytes(StandardCharsets.UTF_8));
            p.stdin().flush();
            assertThat(new String(p.stdout().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("got hello\n");
            assertThat(new String(p.stderr().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("oops\n");
            assertThat(p.waitFor()).isEqualTo(7);
        }
    }

    @Test
    void aTerminalHasTheRequestedSizeAndFollowsResizes() throws Exception {
        ProcessSpec spec = new ProcessSpec(List.of("/bin/sh"), Map.of(), null, null, true, 100, 30, "xterm");
        try (SandboxProcess p = driver.spawn(vm, spec)) {
            Output out = Output.of(p.stdout());
            OutputStream in = p.stdin();
            in.write("tty; stty size; echo TERM=$TERM\n".getBytes(StandardCharsets.UTF_8));
            in.flush();
            out.await("TERM=xterm\r\n");
            assertThat(out.text()).contains("/dev/pts/").contains("30 100");
            p.resize(132, 43);
            // the resize travels host pty -> SIGWINCH to runc -> container pty: ask until it arrived
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!out.text().contains("43 132")) {
                if (System.nanoTime() > deadline) throw new AssertionError("no resize in output: " + out.text());
                in.write("stty size\n".getBytes(StandardCharsets.UTF_8));
                in.flush();
                Thread.sleep(300);
            }
            in.write("exit 3\n".getBytes(StandardCharsets.UTF_8));
            in.flush();
            assertThat(p.waitFor(Duration.ofSeconds(10))).isEqualTo(OptionalInt.of(3));
        }
        assertThat(host.ok(vm, "echo still-fine")).isEqualTo("still-fine\n");
    }

    @Test
    void signalsReachTheProcessAndCloseKillsWhatIsLeft() throws Exception {
        SandboxProcess p = driver.spawn(vm, ProcessSpec.shell("trap 'echo TERMED; exit 0' TERM; echo ready; while :; do sleep 1; done"));
        Output out = Output.of(p.stdout());
        out.await("ready");
        p.signal(15);
        assertThat(p.waitFor(Duration.ofSeconds(10))).isEqualTo(OptionalInt.of(0));
        out.await("TERMED");

        SandboxProcess stuck = driver.spawn(vm, ProcessSpec.shell("sleep 1000 & echo started; sleep 1000"));
        Output.of(stuck.stdout()).await("started");
        stuck.close();
        assertThat(stuck.isAlive()).isFalse();
        assertThat(host.ok(vm, "ps -o args | grep -c '[s]leep 1000' || true").strip()).as("sleeps left").isEqualTo("0");
    }

    @Test
    void runsAsAUserOfTheVmsPasswd() throws Exception {
        host.ok(vm, "echo 'dev:x:1234:1234:Dev:/home/dev:/bin/sh' >> /etc/passwd; echo 'dev:x:1234:' >> /etc/group;"
                + " echo 'extra:x:555:dev' >> /etc/group; mkdir -p /home/dev");
        ProcessSpec spec = new ProcessSpec(List.of("/bin/sh", "-c", "id -u; id -G; echo $HOME $USER"), Map.of(), null, "dev", false, 0, 0, null);
        try (SandboxProcess p = driver.spawn(vm, spec)) {
            assertThat(new String(p.stdout().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("1234\n1234 555\n/home/dev dev\n");
            assertThat(p.waitFor()).isZero();
        }
        ProcessSpec unknown = new ProcessSpec(List.of("true"), Map.of(), null, "nobody-here", false, 0, 0, null);
        assertThatThrownBy(() -> driver.spawn(vm, unknown)).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("USER_NOT_FOUND"));
    }

    @Test
    void accountChangesInsideTheVmAreSeenByTheNextSpawn() throws Exception {
        ProcessSpec asLate = new ProcessSpec(List.of("id", "-u"), Map.of(), null, "late", false, 0, 0, null);
        assertThatThrownBy(() -> driver.spawn(vm, asLate)).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("USER_NOT_FOUND"));
        // appended in place (same inode), the way `echo >>` does, then replaced by a rename, the way useradd does
        host.ok(vm, "echo 'late:x:4321:4321::/:/bin/sh' >> /etc/passwd");
        try (SandboxProcess p = driver.spawn(vm, asLate)) {
            assertThat(new String(p.stdout().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("4321\n");
        }
        host.ok(vm, "grep -v '^late:' /etc/passwd > /etc/passwd.new && mv /etc/passwd.new /etc/passwd");
        assertThatThrownBy(() -> driver.spawn(vm, asLate)).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("USER_NOT_FOUND"));
    }

    @Test
    void connectsToAPortOnTheVmsLoopbackOnly() throws Exception {
        assertThatThrownBy(() -> driver.connect(vm, 7000)).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("PORT_NOT_OPEN"));
        // A one-shot server bound to the VM's 127.0.0.1: unreachable from the host's own loopback.
        driver.exec(vm, ExecRequest.of("(echo hello-from-vm | nc -l -p 7000 127.0.0.1 > /tmp/got) >/dev/null 2>&1 &", Duration.ofSeconds(5)));
        SocketChannel ch = null;
        for (int i = 0; i < 100 && ch == null; i++) {
            try {
                ch = driver.connect(vm, 7000);
            } catch (BurrowException notYet) {
                Thread.sleep(50);
            }
        }
        assertThat(ch).as("connected").isNotNull();
        try (SocketChannel c = ch) {
            c.write(ByteBuffer.wrap("hi-from-host\n".getBytes(StandardCharsets.UTF_8)));
            c.shutdownOutput();
            ByteBuffer buf = ByteBuffer.allocate(100);
            while (c.read(buf) >= 0) { }
            assertThat(new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8)).isEqualTo("hello-from-vm\n");
        }
        assertThat(host.ok(vm, "sleep 0.2; cat /tmp/got")).isEqualTo("hi-from-host\n");
        try (var s = new java.net.Socket()) {
            assertThatThrownBy(() -> s.connect(new java.net.InetSocketAddress("127.0.0.1", 7000), 500)).isInstanceOf(IOException.class);
        }
    }

    /** Collects a stream on a platform thread (terminal reads block in native code). */
    static final class Output {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        static Output of(InputStream in) {
            Output o = new Output();
            Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[4096];
                try {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        synchronized (o) {
                            o.bytes.write(buf, 0, n);
                            o.notifyAll();
                        }
                    }
                } catch (IOException ignored) {
                    // closed
                }
            });
            return o;
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        synchronized void await(String expected) throws InterruptedException {
            long deadline = System.currentTimeMillis() + 10_000;
            while (!text().contains(expected)) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) throw new AssertionError("no '" + expected + "' in output: " + text());
                wait(left);
            }
        }
    }
}
