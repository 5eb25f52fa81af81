package dev.burrow.core.process;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.error.BurrowException;

/** Process handles with a scripted process: statuses, limits, retention, teardown. */
class ProcessManagerTest {
    /** A process whose output and exit the test decides. */
    static final class ScriptedProcess implements SandboxProcess {
        final LinkedBlockingQueue<byte[]> out = new LinkedBlockingQueue<>();
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        volatile int signalled;

        void print(String s) {
            out.add(s.getBytes(StandardCharsets.UTF_8));
        }

        void exit(int code) {
            out.add(new byte[0]);
            exit.complete(code);
        }

        @Override public OutputStream stdin() { return OutputStream.nullOutputStream(); }

        @Override public InputStream stdout() {
            return new InputStream() {
                byte[] cur = new byte[0];
                int pos;

                @Override public int read() { throw new UnsupportedOperationException(); }

                @Override public int read(byte[] b, int off, int len) throws IOException {
                    if (pos == cur.length) {
                        try {
                            cur = out.take();
                        } catch (InterruptedException e) {
                            throw new IOException(e);
                        }
                        pos = 0;
                        if (cur.length == 0) {
                            out.add(cur);
                            return -1;
                        }
                    }
                    int n = Math.min(len, cur.length - pos);
                    System.arraycopy(cur, pos, b, off, n);
                    pos += n;
                    return n;
                }
            };
        }

        @Override public InputStream stderr() { return InputStream.nullInputStream(); }

        @Override public void resize(int cols, int rows) { }

        @Override public void signal(int signal) {
            signalled = signal;
            if (signal == 9 || signal == 15) exit(128 + signal);
        }

        @Override public int waitFor() throws InterruptedException {
            try {
                return exit.get();
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override public OptionalInt waitFor(Duration timeout) throws InterruptedException {
            try {
                return OptionalInt.of(exit.get(timeout.toMillis(), TimeUnit.MILLISECONDS));
            } catch (TimeoutException e) {
                return OptionalInt.empty();
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override public boolean isAlive() { return !exit.isDone(); }

        @Override public void close() {
            if (!exit.isDone()) exit(137);
        }
    }

    private final List<ScriptedProcess> spawned = new java.util.concurrent.CopyOnWriteArrayList<>();

    private ProcessManager manager(int maxRunning, int keepExited) {
        return new ProcessManager((vm, spec) -> {
            ScriptedProcess p = new ScriptedProcess();
            spawned.add(p);
            return p;
        }, vm -> { }, Clock.systemUTC(), new ProcessManager.Settings(1024, maxRunning, keepExited, Duration.ofMinutes(5),
                Duration.ofMillis(200)));
    }

    private static final ProcessSpec SPEC = new ProcessSpec(List.of("x"), Map.of(), null, null, false, 0, 0, null);

    @Test
    void statusesFollowHowAProcessEnded() throws Exception {
        ProcessManager m = manager(10, 10);
        ManagedProcess exited = m.start("vm1", SPEC, null);
        spawned.get(0).print("hello");
        spawned.get(0).exit(3);
        assertThat(exited.awaitEnd(Duration.ofSeconds(5))).isTrue();
        assertThat(exited.status()).isEqualTo(ProcessStatus.EXITED);
        assertThat(exited.exitCode()).isEqualTo(3);
        assertThat(new String(exited.stdout().read(0, 100).data(), StandardCharsets.UTF_8)).isEqualTo("hello");

        ManagedProcess timedOut = m.start("vm1", SPEC, Duration.ofMillis(100));
        assertThat(timedOut.awaitEnd(Duration.ofSeconds(5))).isTrue();
        assertThat(timedOut.status()).isEqualTo(ProcessStatus.TIMED_OUT);

        ManagedProcess signalled = m.start("vm1", SPEC, null);
        signalled.signal(15);
        assertThat(signalled.awaitEnd(Duration.ofSeconds(5))).isTrue();
        assertThat(signalled.status()).isEqualTo(ProcessStatus.KILLED);
        assertThat(signalled.exitCode()).isEqualTo(143);

        ManagedProcess removed = m.remove("vm1", m.start("vm1", SPEC, null).id());
        assertThat(removed.awaitEnd(Duration.ofSeconds(5))).isTrue();
        assertThat(removed.status()).isEqualTo(ProcessStatus.KILLED);
        assertThatThrownBy(() -> m.get("vm1", removed.id())).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("PROCESS_NOT_FOUND"));
        assertThatThrownBy(() -> signalled.signal(9)).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("PROCESS_NOT_RUNNING"));
    }

    @Test
    void runningProcessesAreLimitedAndEndedOnesKeptBounded() throws Exception {
        ProcessManager m = manager(2, 2);
        m.start("vm1", SPEC, null);
        m.start("vm1", SPEC, null);
        assertThatThrownBy(() -> m.start("vm1", SPEC, null)).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("TOO_MANY_PROCESSES"));
        m.start("vm2", SPEC, null); // the limit is per VM
        m.close();

        ProcessManager keep = manager(10, 2);
        spawned.clear();
        List<ManagedProcess> started = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ManagedProcess p = keep.start("vm1", SPEC, null);
            started.add(p);
            spawned.get(i).exit(i);
            assertThat(p.awaitEnd(Duration.ofSeconds(5))).isTrue();
            Thread.sleep(5); // distinct end times
        }
        assertThat(keep.list("vm1")).extracting(ManagedProcess::id)
                .containsExactly(started.get(2).id(), started.get(3).id());
        keep.close();
    }

    @Test
    void endingAVmsProcessesLeavesNoThreads() throws Exception {
        ProcessManager m = manager(10, 10);
        for (int i = 0; i < 3; i++) m.start("vm1", SPEC, null);
        ManagedProcess other = m.start("vm2", SPEC, null);
        m.endAll("vm1");
        assertThat(m.list("vm1")).isEmpty();
        assertThat(other.running()).isTrue();
        m.close();
        assertThat(m.size()).isZero();
        Thread.sleep(100);
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith(ManagedProcess.THREAD_PREFIX));
    }
}
