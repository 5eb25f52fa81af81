package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ImageFacet.ProgressListener;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.OciImages;
import dev.burrow.driver.runc.testing.TestRegistry;

/** The image store against the real tools: busybox, umoci, skopeo, a local docker-registry, debootstrap. */
class OciImageStoreTest {
    /**
     * Not JUnit's @TempDir: image trees are full of absolute symlinks (/bin/busybox) that it warns about one by
     * one, and deleting them is the store's own job anyway.
     */
    Path tmp;

    @BeforeEach
    void createTmp() throws IOException {
        tmp = Files.createTempDirectory("burrow-image-test-");
    }

    @AfterEach
    void deleteTmp() {
        ImageFiles.deleteTree(tmp);
    }

    record Event(String phase, double fraction) { }

    static final class Recorder implements ProgressListener {
        final List<Event> events = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void progress(String phase, double fraction) {
            events.add(new Event(phase, fraction));
        }

        List<String> phases() {
            synchronized (events) {
                return events.stream().map(Event::phase).distinct().toList();
            }
        }
    }

    // ---- builtin:busybox ----------------------------------------------------------------------------------

    @Test
    void busyboxBuiltinHasAShellAndTheUsualSkeleton() throws IOException {
        requireBusybox();
        Files.createDirectories(tmp.resolve("images"));
        // Reached through a symlink, as a data dir often is; runc refuses a rootfs path containing one.
        Path link = Files.createSymbolicLink(tmp.resolve("images-link"), tmp.resolve("images"));
        OciImageStore store = new OciImageStore(link);
        Recorder progress = new Recorder();

        UnpackedImage image = store.prepare("builtin:busybox", progress);

        Path rootfs = image.rootfs();
        assertThat(rootfs).isEqualTo(tmp.resolve("images").toRealPath()
                .resolve(image.digest().replace(':', '-')).resolve("rootfs"));
        assertThat(rootfs.toRealPath()).isEqualTo(rootfs);
        assertThat(image.digest()).matches("sha256:[0-9a-f]{64}");
        assertThat(Files.readSymbolicLink(rootfs.resolve("bin/sh"))).isEqualTo(Path.of("/bin/busybox"));
        assertThat(rootfs.resolve("bin/busybox")).isExecutable();
        assertThat(Files.isSymbolicLink(rootfs.resolve("bin/ls"))).isTrue();
        assertThat(Files.readString(rootfs.resolve("etc/passwd"))).contains("root:x:0:0:").contains("nobody:x:65534:");
        assertThat(Files.readString(rootfs.resolve("etc/group"))).contains("root:x:0:").contains("nobody:x:65534:");
        assertThat(mode(rootfs.resolve("tmp"))).isEqualTo(01777);
        assertThat(mode(rootfs.resolve("root"))).isEqualTo(0700);
        for (String mountPoint : List.of("proc", "sys", "dev")) assertThat(rootfs.resolve(mountPoint)).isDirectory();
        assertThat(rootfs.resolve("etc/hostname")).isRegularFile();
        assertThat(image.cmd()).containsExactly("/bin/sh");
        assertThat(image.env()).containsKey("PATH");
        assertThat(progress.phases()).contains("building").endsWith("ready");
        assertThat(store.find("builtin:busybox")).isEqualTo(image);
        // nothing is left in the work area
        try (Stream<Path> leftovers = Files.list(tmp.resolve("images/.tmp"))) {
            assertThat(leftovers).isEmpty();
        }
    }

    @Test
    void theSameDigestIsBuiltOnceWhateverTheNumberOfCallers() throws Exception {
        requireBusybox();
        Path images = tmp.resolve("images");
        OciImageStore store = new OciImageStore(images);
        int callers = 4;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(callers);
        List<Future<UnpackedImage>> results = new ArrayList<>();
        try {
            for (int i = 0; i < callers; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    return store.prepare("builtin:busybox", ProgressListener.NONE);
                }));
            }
            start.countDown();
            Set<Path> roots = new java.util.HashSet<>();
            for (Future<UnpackedImage> f : results) roots.add(f.get(60, TimeUnit.SECONDS).rootfs());
            assertThat(roots).hasSize(1);
        } finally {
            pool.shutdownNow();
        }
        assertThat(store.builds()).isEqualTo(1);

        // A later prepare, and one from a new store instance (a restart), reuse the directory untouched.
        Path rootfs = store.find("builtin:busybox").rootfs();
        FileTime before = Files.getLastModifiedTime(rootfs.getParent());
        OciImageStore restarted = new OciImageStore(images);
        assertThat(restarted.find("builtin:busybox").rootfs()).isEqualTo(rootfs);
        assertThat(restarted.prepare("builtin:busybox", ProgressListener.NONE).rootfs()).isEqualTo(rootfs);
        assertThat(store.prepare("builtin:busybox", ProgressListener.NONE).rootfs()).isEqualTo(rootfs);
        assertThat(restarted.builds()).isZero();
        assertThat(store.builds()).isEqualTo(1);
        assertThat(Files.getLastModifiedTime(rootfs.getParent())).isEqualTo(before);
    }

    @Test
    void twoProcessesPreparingOneImageBuildItOnce() throws Exception {
        requireBusybox();
        Path images = tmp.resolve("images");
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<Process> children = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            children.add(new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                    PrepareImageInChildProcess.class.getName(), images.toString(), "builtin:busybox")
                    .redirectErrorStream(true).start());
        }
        List<String> outcomes = new ArrayList<>();
        for (Process p : children) {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            String last = out.strip().lines().reduce((a, b) -> b).orElseThrow();
            outcomes.add(last);
        }
        // Each child prints "<digest> <builds>": one digest, and the builds add up to exactly one.
        assertThat(outcomes.stream().map(o -> o.split(" ")[0]).distinct()).hasSize(1);
        assertThat(outcomes.stream().mapToInt(o -> Integer.parseInt(o.split(" ")[1])).sum()).isEqualTo(1);
    }

    @Test
    void leftoversOfACrashedBuildAreRemovedAndNeverMistakenForAnImage() throws IOException {
        requireBusybox();
        Path images = tmp.resolve("images");
        OciImageStore store = new OciImageStore(images);
        String name = BuiltinImages.busyboxDigest().replace(':', '-');
        Path leftover = images.resolve(".tmp").resolve(name + "-deadbeef");
        Files.createDirectories(leftover.resolve("rootfs/bin"));
        assertThat(store.find("builtin:busybox")).isNull();

        UnpackedImage image = store.prepare("builtin:busybox", ProgressListener.NONE);

        assertThat(leftover).doesNotExist();
        assertThat(image.rootfs().resolve("bin/sh")).exists();
    }

    // ---- local OCI layouts --------------------------------------------------------------------------------

    @Test
    void aLocalOciLayoutIsUnpackedWithItsConfig() throws IOException {
        requireBusybox();
        HostRequirements.requireCommand("umoci");
        Path layout = tmp.resolve("images/layouts/layout");
        String digest = OciImages.buildBusyboxLayout(layout, "v1",
                Map.of("PATH", "/bin:/usr/bin", "GREETING", "hello world"), List.of("/bin/sh", "-c", "echo hi"));
        OciImageStore store = new OciImageStore(tmp.resolve("images"));
        Recorder progress = new Recorder();

        UnpackedImage image = store.prepare("oci:" + layout + ":v1", progress);

        assertThat(image.digest()).isEqualTo(digest);
        assertThat(image.env()).containsEntry("GREETING", "hello world").containsEntry("PATH", "/bin:/usr/bin");
        assertThat(image.cmd()).containsExactly("/bin/sh", "-c", "echo hi");
        assertThat(image.workdir()).isEqualTo("/");
        assertThat(Files.readSymbolicLink(image.rootfs().resolve("bin/sh"))).isEqualTo(Path.of("/bin/busybox"));
        assertThat(image.rootfs().resolve("bin/busybox")).isExecutable();
        assertThat(image.rootfs().getParent().resolve("image.json")).isRegularFile();
        assertThat(progress.phases()).contains("unpacking").endsWith("ready");

        // A second tag on the same manifest is the same image: same directory, no second unpack.
        HostCommand.of("umoci", "tag", "--image", layout + ":v1", "also-v1").check();
        UnpackedImage again = store.prepare("oci:" + layout + ":also-v1", ProgressListener.NONE);
        assertThat(again.rootfs()).isEqualTo(image.rootfs());
        assertThat(store.builds()).isEqualTo(1);
        assertThat(store.find("oci:" + layout + ":also-v1").digest()).isEqualTo(digest);
    }

    @Test
    void aMissingLayoutOrTagIsImageNotFound() {
        HostRequirements.requireCommand("umoci");
        OciImageStore store = new OciImageStore(tmp.resolve("images"));
        assertThatThrownBy(() -> store.prepare("oci:" + tmp.resolve("images/nothing-here") + ":v1", ProgressListener.NONE))
                .satisfies(e -> assertNotFound(e, "no OCI layout"));

        requireBusybox();
        Path layout = tmp.resolve("images/layout");
        OciImages.buildBusyboxLayout(layout, "v1");
        assertThatThrownBy(() -> store.prepare("oci:" + layout + ":v2", ProgressListener.NONE))
                .satisfies(e -> assertNotFound(e, "no tag 'v2'"));
    }

    @Test
    void aLayoutOutsideTheImageDirectoryIsRefusedEvenThroughASymlink() throws IOException {
        HostRequirements.requireCommand("umoci");
        requireBusybox();
        OciImageStore store = new OciImageStore(tmp.resolve("images"));
        Path outside = tmp.resolve("outside");
        OciImages.buildBusyboxLayout(outside, "v1");
        Path link = Files.createSymbolicLink(tmp.resolve("images/link"), outside);
        for (String ref : List.of("oci:" + outside + ":v1", "oci:" + link + ":v1", "oci:" + tmp.resolve("images/../outside") + ":v1",
                "oci:/etc:v1")) {
            assertThatThrownBy(() -> store.prepare(ref, ProgressListener.NONE)).as(ref)
                    .isInstanceOfSatisfying(BurrowException.class, e -> {
                        assertThat(e.code()).isEqualTo("INVALID_IMAGE");
                        assertThat(e.getMessage()).contains("--image-dir");
                    });
        }
        assertThat(store.builds()).isZero();
    }

    // ---- registries ---------------------------------------------------------------------------------------

    @Test
    void registryReferencesWithOneDigestShareOneDirectory() {
        requireRegistryTools();
        Path layout = tmp.resolve("layout");
        OciImages.buildBusyboxLayout(layout, "v1", Map.of("PATH", "/bin", "FROM_REGISTRY", "yes"), List.of("/bin/sh"));
        try (TestRegistry registry = TestRegistry.start()) {
            OciImages.pushToRegistry(layout, "v1", registry.ref("burrow/busybox:1"), null);
            OciImages.pushToRegistry(layout, "v1", registry.ref("burrow/busybox:same"), null);
            OciImageStore store = new OciImageStore(tmp.resolve("images"));
            Recorder progress = new Recorder();

            UnpackedImage first = store.prepare(registry.ref("burrow/busybox:1"), progress);
            UnpackedImage second = store.prepare("docker://" + registry.ref("burrow/busybox:same"), ProgressListener.NONE);
            UnpackedImage byDigest = store.prepare(registry.hostPort() + "/burrow/busybox@" + first.digest(),
                    ProgressListener.NONE);

            assertThat(first.env()).containsEntry("FROM_REGISTRY", "yes");
            assertThat(first.rootfs().resolve("bin/busybox")).isExecutable();
            assertThat(second.digest()).isEqualTo(first.digest());
            assertThat(second.rootfs()).isEqualTo(first.rootfs());
            assertThat(byDigest.rootfs()).isEqualTo(first.rootfs());
            assertThat(store.builds()).isEqualTo(1);
            assertThat(progress.phases()).containsSubsequence("resolving", "pulling", "unpacking", "ready");
            assertThat(store.find(registry.ref("burrow/busybox:1"))).isEqualTo(first);

            // With the registry gone, a reference resolved before still prepares from the cache (a restart must
            // not depend on the registry), while one never seen is a gateway failure saying how the registry failed
            // (never skopeo's own text: it holds the command line).
            registry.stop();
            OciImageStore restarted = new OciImageStore(tmp.resolve("images"));
            assertThat(restarted.prepare(registry.ref("burrow/busybox:1"), ProgressListener.NONE).rootfs())
                    .isEqualTo(first.rootfs());
            assertThat(restarted.builds()).isZero();
            assertThatThrownBy(() -> restarted.prepare(registry.ref("burrow/other:1"), ProgressListener.NONE))
                    .isInstanceOfSatisfying(BurrowException.class, e -> {
                        assertThat(e).isNotInstanceOf(DriverException.class);
                        assertThat(e.code()).isEqualTo("REGISTRY_UNAVAILABLE");
                        assertThat(e.status()).isEqualTo(502);
                        assertThat(e.getMessage()).contains("refused the connection").doesNotContain("skopeo");
                    });
        }
    }

    @Test
    void aMissingImageInARegistryIsImageNotFound() {
        requireRegistryTools();
        Path layout = tmp.resolve("layout");
        OciImages.buildBusyboxLayout(layout, "v1");
        try (TestRegistry registry = TestRegistry.start()) {
            OciImages.pushToRegistry(layout, "v1", registry.ref("burrow/busybox:1"), null);
            OciImageStore store = new OciImageStore(tmp.resolve("images"));

            assertThatThrownBy(() -> store.prepare(registry.ref("burrow/busybox:missing"), ProgressListener.NONE))
                    .satisfies(e -> assertNotFound(e, "has no burrow/busybox:missing"));
            assertThatThrownBy(() -> store.prepare(registry.ref("burrow/nothing:1"), ProgressListener.NONE))
                    .satisfies(e -> assertNotFound(e, "burrow/nothing"));
            assertThat(store.find(registry.ref("burrow/busybox:missing"))).isNull();
            assertThat(store.builds()).isZero();
        }
    }

    @Test
    void aRegistryBehindBasicAuthNeedsTheAuthFile() throws IOException {
        requireRegistryTools();
        HostRequirements.requireCommand("htpasswd");
        Path layout = tmp.resolve("layout");
        OciImages.buildBusyboxLayout(layout, "v1");
        try (TestRegistry registry = TestRegistry.startWithAuth("burrow", "s3cret-pass")) {
            OciImages.pushToRegistry(layout, "v1", registry.ref("private/busybox:1"), registry.credentials());

            OciImageStore anonymous = new OciImageStore(tmp.resolve("images"));
            assertThatThrownBy(() -> anonymous.prepare(registry.ref("private/busybox:1"), ProgressListener.NONE))
                    .isInstanceOfSatisfying(BurrowException.class, e -> {
                        assertThat(e.code()).isEqualTo("IMAGE_ACCESS_DENIED");
                        assertThat(e.getMessage()).contains("denied access to private/busybox", "--registry-auth-file");
                    });

            Path authFile = OciImages.writeAuthFile(registry.hostPort(), registry.credentials());
            try {
                OciImageStore authenticated = new OciImageStore(tmp.resolve("images"),
                        OciImageStore.Settings.defaults().withAuthFile(authFile));
                UnpackedImage image = authenticated.prepare(registry.ref("private/busybox:1"), ProgressListener.NONE);
                assertThat(image.rootfs().resolve("bin/busybox")).isExecutable();
            } finally {
                Files.delete(authFile);
            }
        }
    }

    // ---- errors -------------------------------------------------------------------------------------------

    @Test
    void malformedReferencesAreInvalidImageBeforeAnyToolRuns() {
        OciImageStore store = new OciImageStore(tmp.resolve("images"));
        for (String ref : List.of("builtin:alpine", "oci:relative/layout", "UPPER/case:1", "oci-archive:/x.tar", "")) {
            assertThatThrownBy(() -> store.prepare(ref, ProgressListener.NONE))
                    .as(ref)
                    .isInstanceOfSatisfying(BurrowException.class, e -> {
                        assertThat(e.code()).isEqualTo("INVALID_IMAGE");
                        assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_REQUEST);
                    });
        }
        assertThat(store.builds()).isZero();
    }

    // ---- builtin:debian -----------------------------------------------------------------------------------

    /** Built once per checkout into the shared test cache (about a minute the first time), then reused. */
    @Test
    void debianBuiltinHasBashAndApt() throws IOException {
        HostRequirements.requireRoot();
        HostRequirements.requireCommand("debootstrap");
        OciImageStore store = new OciImageStore(HostRequirements.testCache().resolve("images"));
        Recorder progress = new Recorder();
        long start = System.nanoTime();

        UnpackedImage image = store.prepare("builtin:debian", progress);

        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("builtin:debian prepared in %d ms (built here: %s)%n", ms, store.builds() == 1);
        Path rootfs = image.rootfs();
        assertThat(rootfs.resolve("bin/bash")).isExecutable();
        assertThat(rootfs.resolve("usr/bin/apt-get")).isExecutable();
        assertThat(Files.readString(rootfs.resolve("etc/os-release"))).contains("bookworm");
        assertThat(Files.size(rootfs.resolve("etc/resolv.conf"))).as("the build host's DNS must not leak").isZero();
        assertThat(Files.readString(rootfs.resolve("etc/hostname"))).isEqualTo("burrow\n");
        assertThat(rootfs.resolve("debootstrap")).doesNotExist();
        try (Stream<Path> debs = Files.list(rootfs.resolve("var/cache/apt/archives"))) {
            assertThat(debs.filter(p -> p.toString().endsWith(".deb"))).isEmpty();
        }
        assertThat(image.cmd()).containsExactly("/bin/bash");
        if (store.builds() == 1) {
            assertThat(progress.phases())
                    .containsSubsequence("resolving", "downloading", "extracting", "unpacking", "configuring", "ready");
            List<Double> fractions;
            synchronized (progress.events) {
                fractions = progress.events.stream().map(Event::fraction).filter(f -> f >= 0).toList();
            }
            for (int i = 1; i < fractions.size(); i++) {
                assertThat(fractions.get(i)).isGreaterThanOrEqualTo(fractions.get(i - 1));
            }
        }
        assertThat(new OciImageStore(HostRequirements.testCache().resolve("images")).find("builtin:debian"))
                .isEqualTo(image);
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    private static void requireBusybox() {
        HostRequirements.require(Files.isRegularFile(BuiltinImages.HOST_BUSYBOX),
                "a static busybox at /bin/busybox (busybox-static)");
    }

    private static void requireRegistryTools() {
        requireBusybox();
        HostRequirements.requireCommand("umoci");
        HostRequirements.requireCommand("skopeo");
        HostRequirements.requireCommand(TestRegistry.BINARY);
    }

    private static int mode(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
    }

    private static void assertNotFound(Throwable e, String messagePart) {
        assertThat(e).isInstanceOf(BurrowException.class).isNotInstanceOf(DriverException.class);
        BurrowException be = (BurrowException) e;
        assertThat(be.kind()).isEqualTo(BurrowException.Kind.NOT_FOUND);
        assertThat(be.code()).isEqualTo("IMAGE_NOT_FOUND");
        assertThat(be.getMessage()).contains(messagePart);
    }
}
