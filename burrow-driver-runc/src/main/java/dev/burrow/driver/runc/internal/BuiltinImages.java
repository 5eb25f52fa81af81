package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ImageFacet.ProgressListener;

/**
 * Root filesystems Burrow can make without any registry: one from the host's static busybox (seconds, for
 * tests and tiny sandboxes) and a Debian minbase from debootstrap (about a minute, needs only the Debian
 * mirror the host's apt already reaches).
 */
public final class BuiltinImages {
    /** Bump when the busybox rootfs layout changes, so caches built by older code are not reused. */
    static final String BUSYBOX_LAYOUT = "burrow-busybox-layout-1";
    /** Bump when the post-debootstrap cleanup changes. */
    static final String DEBIAN_LAYOUT = "burrow-debian-layout-1";
    static final String DEBIAN_VARIANT = "minbase";

    public static final Path HOST_BUSYBOX = Path.of("/bin/busybox");
    public static final List<String> DEFAULT_PATH_ENV =
            List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

    private BuiltinImages() { }

    /** Digest of the busybox image: the binary's content plus the layout version, so either change rebuilds. */
    static String busyboxDigest() {
        if (!Files.isRegularFile(HOST_BUSYBOX)) {
            throw new DriverException("builtin:busybox needs a static busybox at " + HOST_BUSYBOX
                    + " (Debian package busybox-static)");
        }
        String binary = ImageFiles.sha256Hex(HOST_BUSYBOX);
        return "sha256:" + ImageFiles.sha256Hex((binary + "\n" + BUSYBOX_LAYOUT).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The Debian image is not content-addressed (debootstrap output differs run to run); its digest names the
     * recipe, so the same suite, mirror and layout are built once per cache.
     */
    static String debianDigest(String suite, String mirror) {
        String recipe = "debootstrap\n" + suite + "\n" + mirror + "\n" + DEBIAN_VARIANT + "\n" + DEBIAN_LAYOUT;
        return "sha256:" + ImageFiles.sha256Hex(recipe.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Writes a busybox root filesystem into {@code rootfs} (created if missing): the host's static busybox at
     * /bin/busybox, a symlink per applet (what {@code busybox --install -s} would do, but done here so the host
     * binary never runs with the rootfs as its root), minimal account files and the usual mount points.
     */
    public static void writeBusyboxRootfs(Path rootfs) {
        try {
            Files.createDirectories(rootfs);
            Files.setPosixFilePermissions(rootfs, PosixFilePermissions.fromString("rwxr-xr-x"));
            for (String dir : List.of("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var/tmp",
                    "home", "mnt", "run", "proc", "sys", "dev")) {
                Files.createDirectories(rootfs.resolve(dir));
            }
            Files.setPosixFilePermissions(rootfs.resolve("root"), PosixFilePermissions.fromString("rwx------"));
            // Sticky world-writable /tmp: every user may create files there, none may delete another's.
            for (String tmp : List.of("tmp", "var/tmp")) {
                HostCommand.of("chmod", "1777", rootfs.resolve(tmp).toString()).check();
            }
            Path busybox = rootfs.resolve("bin/busybox");
            Files.copy(HOST_BUSYBOX, busybox, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(busybox, PosixFilePermissions.fromString("rwxr-xr-x"));

            String list = HostCommand.of(HOST_BUSYBOX.toString(), "--list-full").timeout(Duration.ofSeconds(30))
                    .check().stdout();
            for (String applet : list.split("\n")) {
                applet = applet.strip();
                if (applet.isEmpty() || applet.equals("bin/busybox") || applet.contains("..")
                        || applet.startsWith("/")) {
                    continue;
                }
                Path link = rootfs.resolve(applet);
                Files.createDirectories(link.getParent());
                if (!Files.exists(link, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createSymbolicLink(link, Path.of("/bin/busybox"));
                }
            }
            write(rootfs.resolve("etc/passwd"), """
                    root:x:0:0:root:/root:/bin/sh
                    nobody:x:65534:65534:nobody:/nonexistent:/bin/false
                    """, "rw-r--r--");
            write(rootfs.resolve("etc/group"), """
                    root:x:0:
                    nobody:x:65534:
                    """, "rw-r--r--");
            write(rootfs.resolve("etc/shadow"), """
                    root:*:0:0:99999:7:::
                    nobody:*:0:0:99999:7:::
                    """, "rw-------");
            write(rootfs.resolve("etc/hostname"), "burrow\n", "rw-r--r--");
            write(rootfs.resolve("etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                    "rw-r--r--");
            // An empty resolv.conf is the mount target for the per-VM one; it never leaks the host's.
            write(rootfs.resolve("etc/resolv.conf"), "", "rw-r--r--");
        } catch (IOException e) {
            throw new DriverException("cannot write busybox rootfs at " + rootfs + ": " + e.getMessage(), e);
        }
    }

    /**
     * Builds a Debian root filesystem into {@code rootfs} (which must not exist) with debootstrap, reporting
     * progress from its log lines, then removes what the host leaked into it and what a container never uses.
     */
    static void debootstrap(Path rootfs, String suite, String mirror, ProgressListener progress) {
        DebootstrapProgress parser = new DebootstrapProgress(progress);
        parser.accept("I: starting");
        HostCommand.Result r = HostCommand.of("debootstrap", "--variant=" + DEBIAN_VARIANT, "--components=main",
                        suite, rootfs.toString(), mirror)
                .timeout(Duration.ofMinutes(30))
                .env("DEBIAN_FRONTEND", "noninteractive")
                .onLine(parser)
                .run();
        if (!r.ok()) {
            // debootstrap logs the actual cause to <target>/debootstrap/debootstrap.log, not to stderr.
            String log = tail(rootfs.resolve("debootstrap/debootstrap.log"), 20);
            throw new DriverException("building builtin:debian failed: " + r.describeFailure()
                    + (log.isEmpty() ? "" : "\ndebootstrap.log:\n" + log));
        }
        progress.progress("finalizing", 0.99);
        cleanDebianRootfs(rootfs);
    }

    private static void cleanDebianRootfs(Path rootfs) {
        try {
            // Downloaded packages and the placeholder package lists debootstrap leaves are dead weight in a
            // shared read-only image; `apt-get update` inside the VM fetches real lists.
            emptyDir(rootfs.resolve("var/cache/apt/archives"), p -> p.getFileName().toString().endsWith(".deb"));
            emptyDir(rootfs.resolve("var/cache/apt"), p -> p.getFileName().toString().endsWith(".bin"));
            emptyDir(rootfs.resolve("var/lib/apt/lists"), Files::isRegularFile);
            // runc mounts a fresh /dev; nodes debootstrap created would only shadow-confuse inspection.
            emptyDir(rootfs.resolve("dev"), p -> true);
            // debootstrap copies the build host's identity; each VM gets its own.
            write(rootfs.resolve("etc/hostname"), "burrow\n", "rw-r--r--");
            write(rootfs.resolve("etc/resolv.conf"), "", "rw-r--r--");
            write(rootfs.resolve("etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                    "rw-r--r--");
            Path machineId = rootfs.resolve("etc/machine-id");
            if (Files.isRegularFile(machineId, LinkOption.NOFOLLOW_LINKS)) Files.write(machineId, new byte[0]);
        } catch (IOException e) {
            throw new DriverException("cannot finish debian rootfs at " + rootfs + ": " + e.getMessage(), e);
        }
    }

    private static void emptyDir(Path dir, java.util.function.Predicate<Path> which) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path p : entries.filter(which).toList()) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    ImageFiles.deleteTree(p);
                } else {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static void write(Path file, String content, String perms) throws IOException {
        Files.deleteIfExists(file); // may be a symlink (resolv.conf often is); never write through it
        Files.writeString(file, content, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(perms));
    }

    private static String tail(Path file, int lines) {
        try {
            if (!Files.isRegularFile(file)) return "";
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException | UncheckedIOException e) {
            return "";
        }
    }

    /**
     * Turns debootstrap's "I: …" log lines into phases and a rough overall fraction. The package count is
     * known only once downloading ends, so the download phase measures against a typical minbase size; later
     * phases count against the real number. The reported fraction never goes backwards.
     */
    static final class DebootstrapProgress implements Consumer<String> {
        /** About how many packages a bookworm minbase has; only shapes the download bar. */
        static final int TYPICAL_PACKAGES = 90;
        private static final Pattern PACKAGE_STEP =
                Pattern.compile("^I: (Retrieving|Validating) (\\S+) (\\S+)\\s*$");
        private static final Pattern STEP = Pattern.compile("^I: (Extracting|Unpacking|Configuring) (\\S+?)\\.\\.\\.\\s*$");

        private final ProgressListener listener;
        private int validated;
        private int retrieved;
        private int extracted;
        private int unpacked;
        private int configured;
        private String phase = "";
        private double reported = -1;

        DebootstrapProgress(ProgressListener listener) {
            this.listener = listener;
        }

        @Override
        public synchronized void accept(String line) {
            Matcher m = PACKAGE_STEP.matcher(line);
            Matcher s = STEP.matcher(line);
            if (m.matches()) {
                if (m.group(1).equals("Retrieving")) retrieved++;
                else validated++;
                int total = Math.max(TYPICAL_PACKAGES, retrieved);
                report("downloading", 0.05 + 0.35 * Math.min(1.0, (double) validated / total));
            } else if (s.matches()) {
                int total = Math.max(1, Math.max(retrieved, validated));
                switch (s.group(1)) {
                    case "Extracting" -> report("extracting", 0.40 + 0.10 * Math.min(1.0, (double) ++extracted / total));
                    case "Unpacking" -> report("unpacking", 0.50 + 0.25 * Math.min(1.0, (double) ++unpacked / total));
                    default -> report("configuring", 0.75 + 0.23 * Math.min(1.0, (double) ++configured / total));
                }
            } else if (line.startsWith("I: Base system installed successfully")) {
                report("configuring", 0.98);
            } else if (line.startsWith("I: ") && retrieved == 0) {
                // Release files and package indexes come before any package.
                report("resolving", line.startsWith("I: Retrieving Packages") ? 0.03 : 0.01);
            }
        }

        private void report(String newPhase, double fraction) {
            fraction = Math.max(fraction, reported);
            // Throttled: one event per phase change or per whole percent.
            if (newPhase.equals(phase) && fraction - reported < 0.01) return;
            phase = newPhase;
            reported = fraction;
            listener.progress(newPhase, fraction);
        }
    }
}
