package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;

/**
 * The files API on a real VM. The escape tests plant links inside the VM pointing at a marker file in a
 * host directory outside it; the API must never read or write the host file, whatever the VM does.
 */
class RuncDriverFilesTest {
    private static final String HOST_SECRET = "HOST-SECRET-" + RuncTestHost.randomId(8);

    private RuncTestHost host;
    private RuncDriver driver;
    private String vm;
    @TempDir
    Path hostDir;
    private Path marker;

    @BeforeEach
    void setUp() throws IOException {
        host = RuncTestHost.start();
        driver = host.driver;
        vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
        marker = hostDir.toRealPath().resolve("secret.txt");
        Files.writeString(marker, HOST_SECRET);
    }

    @AfterEach
    void tearDown() throws IOException {
        if (host != null) host.close();
        if (marker != null) assertThat(Files.readString(marker)).as("host marker").isEqualTo(HOST_SECRET);
    }

    @Test
    void writeThenReadRoundTripsTextAndBinary() {
        driver.writeFile(vm, "/root/hello.txt", "hello\n".getBytes(StandardCharsets.UTF_8), false);
        assertThat(text(driver.read(vm, "/root/hello.txt", 1024))).isEqualTo("hello\n");
        assertThat(host.ok(vm, "cat /root/hello.txt")).isEqualTo("hello\n");
        assertThat(host.ok(vm, "stat -c %a /root/hello.txt")).isEqualTo("644\n");

        byte[] binary = new byte[1 << 20];
        new Random(42).nextBytes(binary);
        for (int i = 0; i < 256; i++) binary[i] = (byte) i;
        driver.writeFile(vm, "deep/new/dirs/blob.bin", binary, true);
        assertThat(bytes(driver.read(vm, "/deep/new/dirs/blob.bin", binary.length))).isEqualTo(binary);
        assertThat(host.ok(vm, "stat -c %a /deep/new/dirs/blob.bin; stat -c %a /deep/new")).isEqualTo("755\n755\n");
        assertThat(host.ok(vm, "wc -c < /deep/new/dirs/blob.bin").strip()).isEqualTo(Integer.toString(binary.length));

        // Replacing keeps no trace of the old content and leaves no temporary file behind.
        driver.writeFile(vm, "/root/hello.txt", new byte[0], false);
        assertThat(bytes(driver.read(vm, "/root/hello.txt", 10))).isEmpty();
        assertThat(host.ok(vm, "ls -a /root")).doesNotContain(".burrow-write");
        // A VM file written from inside reads the same from outside.
        host.ok(vm, "printf 'from\\0inside' > /tmp/in.bin");
        assertThat(bytes(driver.read(vm, "/tmp/in.bin", 100))).isEqualTo("from\0inside".getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void directoriesAreListedSortedAndMissingOrOversizedFilesAreRefused() {
        host.ok(vm, "mkdir -p /data/zdir /data/adir && touch /data/b.txt /data/a.txt && ln -s /etc /data/link");
        assertThat(driver.read(vm, "/data", 1024)).isInstanceOfSatisfying(FileContent.Directory.class, d ->
                assertThat(d.entries()).containsExactly(new FileContent.Entry("a.txt", false),
                        new FileContent.Entry("adir", true), new FileContent.Entry("b.txt", false),
                        new FileContent.Entry("link", false), new FileContent.Entry("zdir", true)));
        assertThat(driver.read(vm, "/", 1024)).isInstanceOfSatisfying(FileContent.Directory.class, d ->
                assertThat(d.entries()).contains(new FileContent.Entry("etc", true), new FileContent.Entry("bin", true)));

        expectError(() -> driver.read(vm, "/data/missing.txt", 1024), BurrowException.Kind.NOT_FOUND, "FILE_NOT_FOUND");
        expectError(() -> driver.read(vm, "/no/such/dir/file", 1024), BurrowException.Kind.NOT_FOUND, "FILE_NOT_FOUND");
        expectError(() -> driver.read(vm, "/data/a.txt/below", 1024), BurrowException.Kind.NOT_FOUND, "FILE_NOT_FOUND");
        driver.writeFile(vm, "/data/big", new byte[2048], false);
        expectError(() -> driver.read(vm, "/data/big", 2047), BurrowException.Kind.TOO_LARGE, "FILE_TOO_LARGE");
        assertThat(bytes(driver.read(vm, "/data/big", 2048))).hasSize(2048);
        expectError(() -> driver.writeFile(vm, "/data/adir", new byte[1], false), BurrowException.Kind.BAD_REQUEST, "FILES_BAD_REQUEST");
        expectError(() -> driver.writeFile(vm, "/data/a.txt/below", new byte[1], false), BurrowException.Kind.BAD_REQUEST, "FILES_BAD_REQUEST");

        // A FIFO would block a reader forever; a device would be the host's device: both are refused.
        host.ok(vm, "mkfifo /tmp/fifo");
        assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                expectError(() -> driver.read(vm, "/tmp/fifo", 1024), BurrowException.Kind.BAD_REQUEST, "FILES_BAD_REQUEST"));
        expectError(() -> driver.read(vm, "/dev/null", 1024), BurrowException.Kind.NOT_FOUND, "FILE_NOT_FOUND");
    }

    @Test
    void requestPathsWithDotDotOrNulAreRefusedOutright() {
        for (String bad : List.of("/tmp/../etc/passwd", "../etc/passwd", "/..", "/etc/..", "a/../../b", "/tmp/x\0y", "")) {
            expectError(() -> driver.read(vm, bad, 1024), BurrowException.Kind.BAD_REQUEST, "FILES_BAD_REQUEST");
            expectError(() -> driver.writeFile(vm, bad, new byte[1], false), BurrowException.Kind.BAD_REQUEST,
                    "FILES_BAD_REQUEST");
        }
        assertThat(host.ok(vm, "ls /")).doesNotContain("b\n");
        // Relative paths are taken from the VM's root, "." components are harmless.
        driver.writeFile(vm, "tmp/./rel.txt", "r".getBytes(StandardCharsets.UTF_8), false);
        assertThat(host.ok(vm, "cat /tmp/rel.txt")).isEqualTo("r");
    }

    @Test
    void symlinksMadeInsideTheVmNeverReachTheHost() throws IOException {
        Path markerDir = marker.getParent();
        driver.writeFile(vm, "/etc/hostname", "vm-own-hostname\n".getBytes(StandardCharsets.UTF_8), false);
        host.ok(vm, String.join(" && ",
                "ln -s " + marker + " /tmp/abslink",
                "ln -s " + markerDir + " /tmp/absdir",
                "ln -s ../../../../../../../../.." + marker + " /tmp/rel",
                "ln -s ../../../../../../../../.." + markerDir + " /tmp/reldir",
                "ln -s /etc /tmp/hostetc",
                "ln -s ../../../../../../../../etc/hostname /tmp/relhostname",
                "ln -s / /tmp/root"));

        for (String path : List.of("/tmp/abslink", "/tmp/absdir/secret.txt", "/tmp/rel", "/tmp/reldir/secret.txt",
                "/tmp/root" + marker)) {
            expectError(() -> driver.read(vm, path, 1024), BurrowException.Kind.NOT_FOUND, "FILE_NOT_FOUND");
        }
        // Links resolve as they would inside the VM: to the VM's own files.
        assertThat(text(driver.read(vm, "/tmp/hostetc/hostname", 1024))).isEqualTo("vm-own-hostname\n");
        assertThat(text(driver.read(vm, "/tmp/relhostname", 1024))).isEqualTo("vm-own-hostname\n");
        assertThat(text(driver.read(vm, "/tmp/hostetc/passwd", 4096))).isEqualTo(host.ok(vm, "cat /etc/passwd"));

        // Writing through the links lands inside the VM at the path the link names.
        driver.writeFile(vm, "/tmp/abslink", "PWNED-1".getBytes(StandardCharsets.UTF_8), false);
        driver.writeFile(vm, "/tmp/absdir/new.txt", "PWNED-2".getBytes(StandardCharsets.UTF_8), false);
        driver.writeFile(vm, "/tmp/rel", "PWNED-3".getBytes(StandardCharsets.UTF_8), false);
        driver.writeFile(vm, "/tmp/root" + markerDir + "/other.txt", "PWNED-4".getBytes(StandardCharsets.UTF_8), false);
        assertThat(Files.readString(marker)).isEqualTo(HOST_SECRET);
        try (var listing = Files.list(markerDir)) {
            assertThat(listing.map(p -> p.getFileName().toString())).containsExactly("secret.txt");
        }
        assertThat(host.ok(vm, "cat " + marker)).isEqualTo("PWNED-3");
        assertThat(host.ok(vm, "cat " + markerDir + "/new.txt " + markerDir + "/other.txt")).isEqualTo("PWNED-2PWNED-4");
        assertThat(text(driver.read(vm, "/tmp/abslink", 1024))).isEqualTo("PWNED-3");
        assertThat(Files.exists(host.rootfs(vm).resolve(marker.toString().substring(1)))).isTrue();
    }

    @Test
    void symlinkLoopsAreRefused() {
        host.ok(vm, "ln -s /tmp/loop2 /tmp/loop1 && ln -s loop1 /tmp/loop2 && ln -s self /tmp/self");
        for (String path : List.of("/tmp/loop1", "/tmp/loop2/x", "/tmp/self")) {
            expectError(() -> driver.read(vm, path, 1024), BurrowException.Kind.BAD_REQUEST, "FILES_BAD_REQUEST");
            expectError(() -> driver.writeFile(vm, path, new byte[1], false), BurrowException.Kind.BAD_REQUEST,
                    "FILES_BAD_REQUEST");
        }
        // 40 chained links are fine (the kernel's limit), 41 are a loop.
        StringBuilder chain = new StringBuilder("echo end > /tmp/c0");
        for (int i = 1; i <= 41; i++) chain.append(" && ln -s c").append(i - 1).append(" /tmp/c").append(i);
        host.ok(vm, chain.toString());
        assertThat(text(driver.read(vm, "/tmp/c40", 1024))).isEqualTo("end\n");
        expectError(() -> driver.read(vm, "/tmp/c41", 1024), BurrowException.Kind.BAD_REQUEST, "FILES_BAD_REQUEST");
    }

    @Test
    void filesWorkOnRunningSuspendedAndStoppedVmsWithoutChangingTheirState() throws IOException {
        driver.writeFile(vm, "/tmp/running.txt", "r".getBytes(StandardCharsets.UTF_8), false);
        assertThat(driver.state(vm)).isEqualTo(SandboxState.RUNNING);
        assertThat(host.cgroupFile("freezer", vm, "freezer.state")).isEqualTo("THAWED");

        driver.suspend(vm);
        driver.writeFile(vm, "/tmp/suspended.txt", "s".getBytes(StandardCharsets.UTF_8), false);
        assertThat(text(driver.read(vm, "/tmp/running.txt", 10))).isEqualTo("r");
        assertThat(driver.state(vm)).as("a suspended VM must stay frozen").isEqualTo(SandboxState.PAUSED);
        assertThat(host.cgroupFile("freezer", vm, "freezer.state")).isEqualTo("FROZEN");
        driver.resume(vm);

        driver.stop(vm, Duration.ofSeconds(5));
        driver.writeFile(vm, "/tmp/stopped.txt", "t".getBytes(StandardCharsets.UTF_8), false);
        assertThat(text(driver.read(vm, "/tmp/suspended.txt", 10))).isEqualTo("s");
        assertThat(driver.state(vm)).isEqualTo(SandboxState.STOPPED);
        driver.start(vm);
        assertThat(host.ok(vm, "cat /tmp/running.txt /tmp/suspended.txt /tmp/stopped.txt")).isEqualTo("rst");

        driver.destroy(vm);
        expectError(() -> driver.read(vm, "/tmp/running.txt", 10), BurrowException.Kind.NOT_FOUND, "VM_NOT_FOUND");
    }

    /**
     * While the VM swaps a directory for a link to the host marker's directory as fast as it can, reads and
     * writes through that path race with it. Resolution plus open is only safe because the VM is frozen
     * meanwhile; without the freeze this test finds the host file within a few hundred tries.
     */
    @Test
    void aVmSwappingPathComponentsForLinksCannotWinTheRace() throws IOException {
        Path markerDir = marker.getParent();
        host.ok(vm, "mkdir -p /race" + markerDir + " && echo vm-file > /race" + marker);
        driver.exec(vm, new ExecRequest("(while :; do mv /race/d /race/gone 2>/dev/null; ln -s " + markerDir
                + " /race/d; rm -f /race/d; mv /race/gone /race/d 2>/dev/null || mkdir /race/d; "
                + "echo vm-file > /race/d/secret.txt; done) >/dev/null 2>&1 &", java.util.Map.of(), null,
                Duration.ofSeconds(10), null, 0));
        for (int i = 0; i < 400; i++) {
            try {
                FileContent c = driver.read(vm, "/race/d/secret.txt", 1024);
                assertThat(text(c)).isNotEqualTo(HOST_SECRET);
            } catch (BurrowException e) {
                assertThat(e.code()).isEqualTo("FILE_NOT_FOUND");
            }
            try {
                driver.writeFile(vm, "/race/d/written.txt", new byte[] {'x'}, false);
            } catch (BurrowException e) {
                assertThat(e.kind()).isIn(BurrowException.Kind.NOT_FOUND, BurrowException.Kind.BAD_REQUEST);
            }
        }
        try (var listing = Files.list(markerDir)) {
            assertThat(listing.map(p -> p.getFileName().toString())).containsExactly("secret.txt");
        }
    }

    @Test
    void streamedWritesAndReadsRoundTripWithoutHoldingTheVm() throws IOException {
        byte[] blob = new byte[5 << 20];
        new Random(7).nextBytes(blob);
        driver.writeFile(vm, "/srv/stream/blob.bin", new java.io.ByteArrayInputStream(blob), true);
        assertThat(host.ok(vm, "stat -c %a /srv/stream/blob.bin")).isEqualTo("755\n");
        try (OpenFile f = driver.openFile(vm, "/srv/stream/blob.bin", blob.length)) {
            assertThat(f).isInstanceOf(OpenFile.Bytes.class);
            OpenFile.Bytes b = (OpenFile.Bytes) f;
            assertThat(b.size()).isEqualTo(blob.length);
            // the VM runs (and is not frozen) while the caller streams
            assertThat(driver.state(vm)).isEqualTo(dev.burrow.core.driver.SandboxState.RUNNING);
            assertThat(host.ok(vm, "echo alive")).isEqualTo("alive\n");
            assertThat(b.content().readAllBytes()).isEqualTo(blob);
        }
        try (OpenFile d = driver.openFile(vm, "/srv/stream", 10)) {
            assertThat(((OpenFile.Listing) d).entries()).extracting(FileContent.Entry::name).containsExactly("blob.bin");
        }
        expectError(() -> driver.openFile(vm, "/srv/stream/blob.bin", 100), BurrowException.Kind.TOO_LARGE, "FILE_TOO_LARGE");
        assertThat(host.ok(vm, "ls -a /srv/stream")).doesNotContain(".burrow-write");
    }

    @Test
    void aStreamedWriteFailingMidwayLeavesTheOldFileAndNoTemporaryFile() {
        driver.writeFile(vm, "/root/keep.txt", "old".getBytes(StandardCharsets.UTF_8), false);
        java.io.InputStream failing = new java.io.InputStream() {
            private int n;

            @Override
            public int read() throws IOException {
                if (n++ < 1000) return 'x';
                throw new IOException("client went away");
            }
        };
        expectError(() -> driver.writeFile(vm, "/root/keep.txt", failing, false), BurrowException.Kind.BAD_REQUEST,
                "FILES_BAD_REQUEST");
        assertThat(host.ok(vm, "cat /root/keep.txt")).isEqualTo("old");
        assertThat(host.ok(vm, "ls -a /root")).doesNotContain(".burrow-write");
    }

    /**
     * The bytes of a streamed write arrive while the VM runs; here the VM swaps the target's directory for a link to
     * the host marker's directory in the middle of the upload. The rename must not follow it: the name beside the
     * target no longer denotes the file written, so the write is refused and nothing reaches the host.
     */
    @Test
    void aStreamedWriteWhoseDirectoryTheVmSwapsMidUploadIsRefusedAndNeverReachesTheHost() throws IOException {
        Path markerDir = marker.getParent();
        host.ok(vm, "mkdir -p /up/d");
        java.io.InputStream swapping = new java.io.InputStream() {
            private int n;

            @Override
            public int read() {
                if (n == 0) host.ok(vm, "mv /up/d /up/gone && ln -s " + markerDir + " /up/d");
                return n++ < 100 ? 'y' : -1;
            }
        };
        expectError(() -> driver.writeFile(vm, "/up/d/written.txt", swapping, false), BurrowException.Kind.CONFLICT,
                "FILE_CHANGED_DURING_WRITE");
        try (var listing = Files.list(markerDir)) {
            assertThat(listing.map(p -> p.getFileName().toString())).containsExactly("secret.txt");
        }
    }

    @Test
    void aReadStillOpenWhenTheVmIsDestroyedIsClosedAndTheVmGoesCompletely() throws IOException {
        host.ok(vm, "dd if=/dev/zero of=/root/big bs=1024 count=4096 2>/dev/null");
        OpenFile.Bytes open = (OpenFile.Bytes) driver.openFile(vm, "/root/big", 8L << 20);
        assertThat(open.content().readNBytes(1024)).hasSize(1024);
        driver.destroy(vm);
        assertThat(driver.state(vm)).isEqualTo(dev.burrow.core.driver.SandboxState.ABSENT);
        assertThatThrownBy(() -> open.content().readAllBytes()).isInstanceOf(IOException.class);
        open.close();
    }

    private static void expectError(org.assertj.core.api.ThrowableAssert.ThrowingCallable call,
                                    BurrowException.Kind kind, String code) {
        Consumer<BurrowException> check = e -> {
            assertThat(e.kind()).isEqualTo(kind);
            assertThat(e.code()).isEqualTo(code);
        };
        assertThatThrownBy(call).isInstanceOfSatisfying(BurrowException.class, check);
    }

    private static byte[] bytes(FileContent c) {
        assertThat(c).isInstanceOf(FileContent.RegularFile.class);
        return ((FileContent.RegularFile) c).bytes();
    }

    private static String text(FileContent c) {
        return new String(bytes(c), StandardCharsets.UTF_8);
    }
}
