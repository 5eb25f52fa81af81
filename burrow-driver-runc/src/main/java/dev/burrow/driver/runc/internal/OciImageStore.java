package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.PullProgress;
import dev.burrow.core.driver.ImageFacet.ProgressListener;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * The image cache of the runc driver. Every image, whatever its source, ends up as
 * {@code <imageDir>/sha256-<hex>/rootfs} plus {@code image.json} (its env, workdir, command and user), keyed
 * by the manifest digest (or, for builtins, the digest of their recipe), so two references to one image share
 * one directory.
 *
 * <p>Crash safety: an image is built in {@code <imageDir>/.tmp/} and renamed into place in one step, so a
 * directory under its digest name is always complete. Concurrency: per digest, an in-JVM lock serializes
 * threads and a {@link FileLock} on {@code .locks/<digest>.lock} serializes processes sharing the directory;
 * whoever gets the lock second finds the image done.
 *
 * <p>A small {@code refs.json} maps each reference ever prepared to its digest, so {@link #find} works after a
 * restart and a registry reference still resolves while its registry is unreachable.
 */
public final class OciImageStore implements ImageStore {
    private static final Logger log = LoggerFactory.getLogger(OciImageStore.class);

    /** Digests we accept as directory names; anything else (from a tool or a hand-edited index) is refused. */
    private static final Pattern DIGEST = Pattern.compile("sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}");
    private static final Pattern NOT_FOUND = Pattern.compile(
            "manifest unknown|name unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN|not found|repository name not known",
            Pattern.CASE_INSENSITIVE);
    private static final Pattern DENIED = Pattern.compile(
            "requested access to the resource is denied|unauthorized|authentication required|denied:",
            Pattern.CASE_INSENSITIVE);
    private static final String REF_NAME = "org.opencontainers.image.ref.name";
    private static final String PULL_TAG = "image";

    /**
     * FileChannel locks belong to the whole JVM: a second lock on the same file from the same process throws
     * instead of waiting. So threads (of any store instance on the same directory) queue on this first.
     */
    private static final ConcurrentHashMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

    /**
     * @param debianMirror       Debian mirror debootstrap fetches {@code builtin:debian} from
     * @param debianSuite        Debian suite of {@code builtin:debian}
     * @param insecureRegistries registry hosts (with port if any) reached over plain HTTP; loopback hosts
     *                           always are
     * @param authFile           containers-auth.json style credentials for skopeo, or null for anonymous
     * @param pullTimeout        longest a single pull or unpack may take
     */
    public record Settings(String debianMirror, String debianSuite, Set<String> insecureRegistries, Path authFile,
                           Duration pullTimeout) {
        public Settings {
            insecureRegistries = insecureRegistries == null ? Set.of() : Set.copyOf(insecureRegistries);
        }

        public static Settings defaults() {
            return new Settings("http://deb.debian.org/debian", "bookworm", Set.of(), null, Duration.ofMinutes(30));
        }

        public Settings withDebianMirror(String mirror) {
            return new Settings(mirror, debianSuite, insecureRegistries, authFile, pullTimeout);
        }

        public Settings withDebianSuite(String suite) {
            return new Settings(debianMirror, suite, insecureRegistries, authFile, pullTimeout);
        }

        public Settings withInsecureRegistries(Set<String> hosts) {
            return new Settings(debianMirror, debianSuite, hosts, authFile, pullTimeout);
        }

        public Settings withAuthFile(Path file) {
            return new Settings(debianMirror, debianSuite, insecureRegistries, file, pullTimeout);
        }

        public Settings withPullTimeout(Duration timeout) {
            return new Settings(debianMirror, debianSuite, insecureRegistries, authFile, timeout);
        }
    }

    /** What an image declares for its processes; stored in image.json. */
    record ImageConfig(Map<String, String> env, String workdir, List<String> cmd, String user) { }

    /** The image.json written beside each rootfs. */
    record ImageMetadata(int schema, String digest, String source, Map<String, String> env, String workdir,
                         List<String> cmd, String user, String createdAt) { }

    @FunctionalInterface
    private interface Builder {
        /** Creates {@code work/rootfs} and returns the image's config; may use {@code work/scratch} freely. */
        ImageConfig build(Path work);
    }

    private final Path imageDir;
    private final Settings settings;
    private final Path tmpDir;
    private final Path lockDir;
    private final Path refIndex;
    private final AtomicInteger builds = new AtomicInteger();

    public OciImageStore(Path imageDir) {
        this(imageDir, Settings.defaults());
    }

    public OciImageStore(Path imageDir, Settings settings) {
        try {
            Files.createDirectories(imageDir);
            // Resolved once: runc refuses a rootfs path that passes through a symlink, and the in-JVM lock map
            // must see one spelling of each lock file.
            this.imageDir = imageDir.toRealPath();
            this.tmpDir = Files.createDirectories(this.imageDir.resolve(".tmp"));
            this.lockDir = Files.createDirectories(this.imageDir.resolve(".locks"));
        } catch (IOException e) {
            throw new DriverException("cannot create image directory " + imageDir + ": " + e.getMessage(), e);
        }
        this.settings = settings;
        this.refIndex = this.imageDir.resolve("refs.json");
    }

    public Path imageDir() {
        return imageDir;
    }

    /** How many images this instance built or unpacked (not counting cache hits); for tests and metrics. */
    public int builds() {
        return builds.get();
    }

    @Override
    public UnpackedImage prepare(String ref, ProgressListener progress) {
        ProgressListener listener = progress == null ? ProgressListener.NONE : progress;
        ImageRef parsed = ImageRef.parse(ref);
        UnpackedImage image = switch (parsed) {
            case ImageRef.Builtin b when b.name().equals("busybox") ->
                    ensure(ref, BuiltinImages.busyboxDigest(), "builtin:busybox", listener, work -> {
                        listener.progress("building", -1);
                        BuiltinImages.writeBusyboxRootfs(work.resolve("rootfs"));
                        return new ImageConfig(env(BuiltinImages.DEFAULT_PATH_ENV), "/", List.of("/bin/sh"), "");
                    });
            case ImageRef.Builtin b -> {
                String digest = BuiltinImages.debianDigest(settings.debianSuite(), settings.debianMirror());
                yield ensure(ref, digest, "builtin:debian", listener, work -> {
                    BuiltinImages.debootstrap(work.resolve("rootfs"), settings.debianSuite(), settings.debianMirror(),
                            listener);
                    return new ImageConfig(env(BuiltinImages.DEFAULT_PATH_ENV), "/", List.of("/bin/bash"), "");
                });
            }
            case ImageRef.OciLayout l -> {
                confineLayout(ref, l.dir());
                String digest = layoutManifestDigest(ref, l.dir(), l.tag());
                yield ensure(ref, digest, l.canonical(), listener, work -> unpackLayout(l.dir(), l.tag(), digest, work,
                        listener));
            }
            case ImageRef.Registry r -> prepareRegistry(ref, r, listener);
        };
        recordRef(parsed.canonical(), image.digest());
        touch(image.digest());
        listener.progress("ready", 1.0);
        return image;
    }

    @Override
    public UnpackedImage find(String ref) {
        ImageRef parsed = ImageRef.parse(ref);
        String digest = readRefIndex().get(parsed.canonical());
        if (digest == null) {
            // These digests are known without any tool or network, so a fresh index still finds them.
            digest = switch (parsed) {
                case ImageRef.Builtin b when b.name().equals("busybox") && Files.isRegularFile(BuiltinImages.HOST_BUSYBOX) ->
                        BuiltinImages.busyboxDigest();
                case ImageRef.Builtin b when b.name().equals("debian") ->
                        BuiltinImages.debianDigest(settings.debianSuite(), settings.debianMirror());
                case ImageRef.Registry r when r.digest() != null -> r.digest();
                default -> null;
            };
        }
        if (digest == null || !DIGEST.matcher(digest).matches()) return null;
        if (!Files.isRegularFile(imagePath(digest).resolve("image.json"))) return null;
        touch(digest);
        return load(ref, digest);
    }

    // ---- what is cached, and removing it ------------------------------------------------------------------

    @Override
    public List<Cached> cached() {
        Map<String, List<String>> refsByDigest = new TreeMap<>();
        readRefIndex().forEach((ref, d) -> refsByDigest.computeIfAbsent(d, k -> new ArrayList<>()).add(ref));
        List<Cached> found = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(imageDir, "sha*-*")) {
            for (Path dir : entries) {
                String digest = dir.getFileName().toString().replaceFirst("-", ":");
                if (!DIGEST.matcher(digest).matches() || !isComplete(digest)) continue;
                found.add(new Cached(digest, refsByDigest.getOrDefault(digest, List.of()), sizeOf(dir), lastUsed(dir)));
            }
        } catch (IOException e) {
            throw new DriverException("cannot list " + imageDir + ": " + e.getMessage(), e);
        }
        return found;
    }

    /**
     * Removes an image: its unpacked tree and metadata, the references that resolve to it and its lock file. The
     * directory is first renamed out of its digest name (one step), so a crash midway leaves a {@code .tmp}
     * leftover, never a half image under the digest. Succeeds when the image is not cached.
     */
    @Override
    public void delete(String digest) {
        if (!DIGEST.matcher(digest).matches()) {
            throw BurrowException.of(ErrorCode.INVALID_IMAGE_DIGEST, "not an image digest: '" + digest + "'");
        }
        String name = digest.replace(':', '-');
        Path lockFile = lockDir.resolve(name + ".lock");
        withLock(lockFile, () -> {
            Path dir = imagePath(digest);
            if (Files.exists(dir)) {
                Path doomed = tmpDir.resolve(name + "-deleting-" + UUID.randomUUID().toString().substring(0, 8));
                try {
                    Files.move(dir, doomed, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    throw new DriverException("cannot remove image " + digest + ": " + e.getMessage(), e);
                }
                ImageFiles.deleteTree(doomed);
            }
            withLock(lockDir.resolve("refs.lock"), () -> {
                Map<String, String> refs = new TreeMap<>(readRefIndex());
                if (refs.values().removeIf(digest::equals)) writeRefIndex(refs);
                return null;
            });
            return null;
        });
        try {
            Files.deleteIfExists(lockFile);
        } catch (IOException e) {
            log.warn("op=image_delete cannot remove lock file {}: {}", lockFile, e.getMessage());
        }
        log.info("digest={} op=image_delete", digest);
    }

    /** Marks an image as used now (a create or a prepare); the garbage collector counts its age from here. */
    private void touch(String digest) {
        Path marker = imagePath(digest).resolve("last-used");
        try {
            if (!Files.exists(marker)) Files.createFile(marker);
            Files.setLastModifiedTime(marker, java.nio.file.attribute.FileTime.from(Instant.now()));
        } catch (IOException e) {
            // the image itself is fine; only its age is less precise
            log.debug("cannot mark {} as used: {}", digest, e.getMessage());
        }
    }

    private static Instant lastUsed(Path dir) {
        for (String f : List.of("last-used", "image.json")) {
            try {
                return Files.getLastModifiedTime(dir.resolve(f)).toInstant();
            } catch (IOException ignored) {
                // try the next
            }
        }
        return Instant.EPOCH;
    }

    /** Bytes of the unpacked tree, computed once per image and kept beside it (the tree never changes). */
    private static long sizeOf(Path dir) {
        Path cache = dir.resolve("size");
        try {
            if (Files.isRegularFile(cache)) return Long.parseLong(Files.readString(cache).strip());
        } catch (IOException | NumberFormatException ignored) {
            // recompute below
        }
        long[] total = {0};
        try (var walk = Files.walk(dir)) {
            walk.forEach(p -> {
                try {
                    var a = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
                            java.nio.file.LinkOption.NOFOLLOW_LINKS);
                    if (a.isRegularFile()) total[0] += a.size();
                } catch (IOException ignored) {
                    // a file that vanished is not counted
                }
            });
        } catch (IOException | java.io.UncheckedIOException e) {
            return -1;
        }
        try {
            Files.writeString(cache, Long.toString(total[0]));
        } catch (IOException ignored) {
            // computed again next time
        }
        return total[0];
    }

    /**
     * Samples what skopeo has written into the layout while it copies: finished layer blobs (a file named by a
     * layer's digest, at its full size) and the temporary files it streams into. Totals come from the manifest.
     */
    private static final class PullMeter {
        private final Path layout;
        private final Map<String, Long> layerSizes;
        private final long total;
        private final ProgressListener progress;
        private volatile boolean running;
        private Thread thread;

        PullMeter(Path layout, Map<String, Long> layerSizes, long total, ProgressListener progress) {
            this.layout = layout;
            this.layerSizes = layerSizes;
            this.total = total;
            this.progress = progress;
        }

        void start() {
            running = true;
            thread = Thread.ofVirtual().name("pull-meter").start(() -> {
                while (running) {
                    progress.pull(sample("pulling"));
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        void stop() {
            running = false;
            if (thread != null) {
                thread.interrupt();
                try {
                    thread.join(1000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        PullProgress sample(String phase) {
            long bytes = 0;
            int layersDone = 0;
            if (Files.isDirectory(layout)) {
                try (var walk = Files.walk(layout)) {
                    for (Path p : (Iterable<Path>) walk::iterator) {
                        String name = p.getFileName().toString();
                        if (name.equals("index.json") || name.equals("oci-layout")) continue;
                        long size;
                        try {
                            var a = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
                                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
                            if (!a.isRegularFile()) continue;
                            size = a.size();
                        } catch (IOException e) {
                            continue; // a temp file renamed away between listing and reading
                        }
                        Long expected = layerSizes.get(name);
                        if (expected != null && size == expected) layersDone++;
                        // config and manifest blobs are not layers; the tiny rest they add is capped below
                        if (expected != null || !name.matches("[a-f0-9]{64}|[a-f0-9]{128}")) bytes += size;
                    }
                } catch (IOException | java.io.UncheckedIOException e) {
                    // the layout vanished (the pull failed): report what was seen last
                }
            }
            if (total >= 0) bytes = Math.min(bytes, total);
            int layersTotal = layerSizes.isEmpty() ? -1 : layerSizes.size();
            return new PullProgress(phase, total < 0 && bytes == 0 ? -1 : bytes, total, layersTotal < 0 ? -1 : layersDone,
                    layersTotal);
        }
    }

    // ---- registry references ------------------------------------------------------------------------------

    private UnpackedImage prepareRegistry(String ref, ImageRef.Registry r, ProgressListener progress) {
        String digest = r.digest();
        int layers = -1;
        long bytesTotal = -1;
        Map<String, Long> layerSizes = new LinkedHashMap<>();
        if (digest == null || !isComplete(digest)) {
            progress.progress("resolving", -1);
            HostCommand.Result inspect = skopeo("inspect", "--tls-verify", r, List.of(r.skopeoRef()))
                    .timeout(Duration.ofMinutes(2)).run();
            if (!inspect.ok()) {
                String cached = digest != null ? digest : readRefIndex().get(r.canonical());
                if (cached != null && DIGEST.matcher(cached).matches() && isComplete(cached)) {
                    // The registry is unreachable, but this reference was resolved before: a restart must not
                    // depend on the registry for images already on disk.
                    log.warn("image_ref={} op=resolve using cached digest={} because skopeo failed: {}", ref, cached,
                            inspect.describeFailure());
                    return load(ref, cached);
                }
                throw pullFailure(ref, r, inspect);
            }
            JsonNode info = readJson(inspect.stdout(), "skopeo inspect output for " + ref);
            if (digest == null) digest = info.path("Digest").asText("");
            layers = info.path("Layers").isArray() ? info.path("Layers").size() : -1;
            if (!DIGEST.matcher(digest).matches()) {
                throw new DriverException("skopeo inspect returned no usable digest for " + ref + ": '" + digest + "'");
            }
            // The manifest declares each layer's size: the total a pull has to fetch. Best effort: without it the
            // pull still runs, its progress just has no total.
            readLayerSizes(r.pinned(digest), layerSizes);
            long total = layerSizes.values().stream().mapToLong(Long::longValue).sum();
            bytesTotal = layerSizes.isEmpty() ? -1 : total;
        }
        String pinned = digest;
        int layerCount = layers;
        long total = bytesTotal;
        return ensure(ref, digest, r.canonical(), progress, work -> {
            Path layout = work.resolve("scratch/layout");
            try {
                Files.createDirectories(layout.getParent());
            } catch (IOException e) {
                throw new DriverException("cannot create " + layout.getParent() + ": " + e.getMessage(), e);
            }
            progress.progress("pulling", layerCount > 0 ? 0.0 : -1);
            AtomicInteger copied = new AtomicInteger();
            var meter = new PullMeter(layout, layerSizes, total, progress);
            progress.pull(meter.sample("pulling"));
            meter.start();
            HostCommand.Result copy;
            try {
                // Pull by digest, not by tag: what is unpacked is exactly what was resolved even if the tag moves.
                copy = skopeo("copy", "--src-tls-verify", r,
                        List.of(r.pinned(pinned).skopeoRef(), "oci:" + layout + ":" + PULL_TAG))
                        .timeout(settings.pullTimeout())
                        .onLine(line -> {
                            if (line.startsWith("Copying blob") && layerCount > 0) {
                                progress.progress("pulling", Math.min(0.7, 0.7 * copied.incrementAndGet() / layerCount));
                            }
                        })
                        .run();
            } finally {
                meter.stop();
            }
            if (!copy.ok()) throw pullFailure(ref, r, copy);
            progress.pull(meter.sample("unpacking"));
            return unpackLayout(layout, PULL_TAG, null, work, progress);
        });
    }

    /**
     * Fills {@code sizes} (layer digest hex -> bytes) from the raw manifest of a pinned reference; for a multi-platform
     * index, from the manifest of this host's platform (the one skopeo copy picks). Leaves it empty when the registry
     * does not tell.
     */
    private void readLayerSizes(ImageRef.Registry pinned, Map<String, Long> sizes) {
        JsonNode manifest = rawManifest(pinned);
        if (manifest != null && manifest.has("manifests")) {
            String arch = switch (System.getProperty("os.arch")) {
                case "amd64", "x86_64" -> "amd64";
                case "aarch64", "arm64" -> "arm64";
                default -> System.getProperty("os.arch");
            };
            String chosen = null;
            for (JsonNode m : manifest.path("manifests")) {
                JsonNode platform = m.path("platform");
                if (platform.path("os").asText("").equals("linux") && platform.path("architecture").asText("").equals(arch)) {
                    chosen = m.path("digest").asText("");
                    break;
                }
            }
            manifest = chosen != null && DIGEST.matcher(chosen).matches() ? rawManifest(pinned.pinned(chosen)) : null;
        }
        if (manifest == null) return;
        for (JsonNode l : manifest.path("layers")) {
            String d = l.path("digest").asText("");
            long size = l.path("size").asLong(-1);
            if (size < 0 || !DIGEST.matcher(d).matches()) {
                sizes.clear();
                return;
            }
            sizes.put(d.substring(d.indexOf(':') + 1), size);
        }
    }

    private JsonNode rawManifest(ImageRef.Registry ref) {
        List<String> operands = List.of("--raw", ref.skopeoRef());
        HostCommand.Result raw = skopeo("inspect", "--tls-verify", ref, operands).timeout(Duration.ofMinutes(1)).run();
        if (!raw.ok()) {
            log.debug("image_ref={} cannot read the raw manifest for progress: {}", ref.skopeoRef(), raw.describeFailure());
            return null;
        }
        try {
            return ImageFiles.JSON.readTree(raw.stdout());
        } catch (IOException e) {
            return null;
        }
    }

    private HostCommand skopeo(String verb, String tlsFlag, ImageRef.Registry r, List<String> operands) {
        List<String> args = new ArrayList<>(List.of("skopeo", verb));
        if (insecure(r)) args.add(tlsFlag + "=false");
        if (settings.authFile() != null) {
            args.add(verb.equals("copy") ? "--src-authfile" : "--authfile");
            args.add(settings.authFile().toString());
        }
        args.addAll(operands);
        return HostCommand.of(args);
    }

    private boolean insecure(ImageRef.Registry r) {
        return r.loopback() || settings.insecureRegistries().contains(r.host())
                || settings.insecureRegistries().contains(r.hostName());
    }

    /**
     * What a failed skopeo call means for the client: the registry has no such image (404 {@code IMAGE_NOT_FOUND}) or
     * the registry could not be used (502 {@code REGISTRY_UNAVAILABLE}, with the kind of failure). Never skopeo's own
     * text: it holds the command line and the host's resolver address; the log keeps it.
     */
    private static BurrowException pullFailure(String ref, ImageRef.Registry r, HostCommand.Result result) {
        log.warn("image_ref={} op=pull registry failure: {}", ref, result.describeFailure());
        String err = result.stderr();
        if (!result.timedOut() && NOT_FOUND.matcher(err).find()) {
            return new BurrowException(ErrorCode.IMAGE_NOT_FOUND, "image " + ref + " not found: registry " + r.host()
                    + " has no " + r.repository() + (r.digest() != null ? "@" + r.digest() : ":" + r.tag()));
        }
        if (!result.timedOut() && DENIED.matcher(err).find()) {
            // Docker Hub answers "denied" for a repository that does not exist as much as for a private one.
            return new BurrowException(ErrorCode.IMAGE_ACCESS_DENIED, "image " + ref + ": registry " + r.host()
                    + " denied access to " + r.repository() + ": it needs credentials this server does not have"
                    + " (--registry-auth-file), or there is no such repository");
        }
        return new BurrowException(ErrorCode.REGISTRY_UNAVAILABLE, "cannot pull image " + ref + ": registry " + r.host()
                + " " + registryTrouble(result) + "; the reference may be fine, try again later");
    }

    /** The kind of transport failure, in words that name no host detail. */
    private static String registryTrouble(HostCommand.Result result) {
        if (result.timedOut()) return "did not answer in time";
        String err = result.stderr().toLowerCase(java.util.Locale.ROOT);
        if (err.contains("no such host") || err.contains("server misbehaving") || err.contains("name resolution")) {
            return "could not be resolved (DNS)";
        }
        if (err.contains("connection refused")) return "refused the connection";
        if (err.contains("timeout") || err.contains("deadline exceeded")) return "did not answer in time";
        if (err.contains("x509") || err.contains("tls") || err.contains("certificate")) return "failed the TLS handshake";
        if (err.contains("toomanyrequests") || err.contains("429")) return "is rate-limiting pulls";
        if (err.contains("network is unreachable") || err.contains("no route to host")) return "is unreachable";
        return "could not be used (the server log has the registry's answer)";
    }

    // ---- OCI layouts --------------------------------------------------------------------------------------

    /**
     * A client may name a local layout only under the image directory, where the operator puts them: anywhere else
     * {@code oci:} would let a request read (and unpack into a VM) any directory of the host. Checked on the path as
     * written, then on the real path, so a symlink under the image directory cannot point out of it.
     */
    @Override
    public void validate(String ref) {
        if (ImageRef.parse(ref) instanceof ImageRef.OciLayout l) confineLayout(ref, l.dir());
    }

    private void confineLayout(String ref, Path layout) {
        boolean inside = layout.normalize().startsWith(imageDir);
        if (inside && Files.exists(layout)) {
            try {
                inside = layout.toRealPath().startsWith(imageDir);
            } catch (IOException e) {
                inside = false;
            }
        }
        if (!inside) {
            throw BurrowException.of(ErrorCode.INVALID_IMAGE, "invalid image reference '" + ref
                    + "': an OCI layout must be a directory under the server's image directory (--image-dir)");
        }
    }

    /** The manifest digest a tag of a local layout points to, read from its index.json. */
    private static String layoutManifestDigest(String ref, Path layout, String tag) {
        Path index = layout.resolve("index.json");
        if (!Files.isRegularFile(index)) {
            throw BurrowException.of(ErrorCode.IMAGE_NOT_FOUND, "image " + ref + " not found: no OCI layout at " + layout);
        }
        List<String> tags = new ArrayList<>();
        for (JsonNode m : readJsonFile(index).path("manifests")) {
            String name = m.path("annotations").path(REF_NAME).asText(null);
            if (name == null) continue;
            tags.add(name);
            if (name.equals(tag)) {
                String digest = m.path("digest").asText("");
                if (!DIGEST.matcher(digest).matches()) {
                    throw new DriverException("OCI layout " + layout + " has a malformed digest for tag " + tag);
                }
                return digest;
            }
        }
        throw BurrowException.of(ErrorCode.IMAGE_NOT_FOUND,
                "image " + ref + " not found: OCI layout " + layout + " has no tag '" + tag + "' (tags: " + tags + ")");
    }

    /**
     * Unpacks {@code layout:tag} with umoci into {@code work/rootfs} and reads the image config from the layout's
     * blobs (umoci's generated config.json adds its own defaults, such as TERM and a shell, that the image never
     * declared). When {@code expectedDigest} is given, the manifest umoci actually unpacked must be it.
     */
    private ImageConfig unpackLayout(Path layout, String tag, String expectedDigest, Path work,
                                     ProgressListener progress) {
        progress.progress("unpacking", 0.75);
        Path bundle = work.resolve("scratch/bundle");
        try {
            Files.createDirectories(bundle.getParent());
            List<String> args = new ArrayList<>(List.of("umoci", "unpack"));
            if (!ImageFiles.runningAsRoot()) args.add("--rootless");
            args.addAll(List.of("--image", layout + ":" + tag, bundle.toString()));
            HostCommand.Result r = HostCommand.of(args).timeout(settings.pullTimeout()).run();
            if (!r.ok()) throw new DriverException("cannot unpack " + layout + ":" + tag + ": " + r.describeFailure());

            String manifestDigest = unpackedManifestDigest(bundle.resolve("umoci.json"));
            if (expectedDigest != null && !expectedDigest.equals(manifestDigest)) {
                throw new DriverException("OCI layout " + layout + " tag " + tag + " moved from " + expectedDigest
                        + " to " + manifestDigest + " while it was unpacked; prepare it again");
            }
            Files.move(bundle.resolve("rootfs"), work.resolve("rootfs"), StandardCopyOption.ATOMIC_MOVE);
            return readImageConfig(layout, manifestDigest);
        } catch (IOException e) {
            throw new DriverException("cannot unpack " + layout + ":" + tag + ": " + e.getMessage(), e);
        }
    }

    private static String unpackedManifestDigest(Path umociJson) {
        JsonNode walk = readJsonFile(umociJson).path("from_descriptor_path").path("descriptor_walk");
        for (JsonNode d : walk) {
            if (d.path("mediaType").asText("").endsWith("manifest.v1+json")) return d.path("digest").asText();
        }
        throw new DriverException("umoci did not record which manifest it unpacked in " + umociJson);
    }

    private static ImageConfig readImageConfig(Path layout, String manifestDigest) {
        JsonNode manifest = readJsonFile(blob(layout, manifestDigest));
        String configDigest = manifest.path("config").path("digest").asText("");
        if (!DIGEST.matcher(configDigest).matches()) {
            throw new DriverException("manifest " + manifestDigest + " in " + layout + " has no config digest");
        }
        JsonNode config = readJsonFile(blob(layout, configDigest)).path("config");
        List<String> envList = new ArrayList<>();
        config.path("Env").forEach(e -> envList.add(e.asText()));
        List<String> cmd = new ArrayList<>();
        // What runs is Entrypoint followed by Cmd, as in every OCI runtime.
        config.path("Entrypoint").forEach(e -> cmd.add(e.asText()));
        config.path("Cmd").forEach(e -> cmd.add(e.asText()));
        String workdir = config.path("WorkingDir").asText("");
        return new ImageConfig(env(envList), workdir.isEmpty() ? "/" : workdir, cmd, config.path("User").asText(""));
    }

    private static Path blob(Path layout, String digest) {
        if (!DIGEST.matcher(digest).matches()) throw new DriverException("malformed digest " + digest + " in " + layout);
        int colon = digest.indexOf(':');
        return layout.resolve("blobs").resolve(digest.substring(0, colon)).resolve(digest.substring(colon + 1));
    }

    // ---- the cache ----------------------------------------------------------------------------------------

    private Path imagePath(String digest) {
        return imageDir.resolve(digest.replace(':', '-'));
    }

    private boolean isComplete(String digest) {
        return Files.isRegularFile(imagePath(digest).resolve("image.json"));
    }

    /** Returns the image under {@code digest}, building it with {@code builder} unless it is already there. */
    private UnpackedImage ensure(String ref, String digest, String source, ProgressListener progress, Builder builder) {
        if (!DIGEST.matcher(digest).matches()) throw new DriverException("malformed digest " + digest + " for " + ref);
        if (isComplete(digest)) return load(ref, digest);
        String name = digest.replace(':', '-');
        return withLock(lockDir.resolve(name + ".lock"), () -> {
            if (isComplete(digest)) return load(ref, digest); // another thread or process finished it meanwhile
            removeLeftovers(name);
            Path work = tmpDir.resolve(name + "-" + UUID.randomUUID().toString().substring(0, 8));
            long start = System.nanoTime();
            try {
                Files.createDirectories(work);
                ImageConfig config = builder.build(work);
                if (!Files.isDirectory(work.resolve("rootfs"))) {
                    throw new DriverException("building " + ref + " produced no rootfs");
                }
                ImageFiles.deleteTree(work.resolve("scratch"));
                ImageFiles.writeJsonAtomically(work.resolve("image.json"), new ImageMetadata(1, digest, source,
                        config.env(), config.workdir(), config.cmd(), config.user(), Instant.now().toString()));
                // The one step that makes the image visible: a crash before it leaves only a .tmp leftover.
                Files.move(work, imagePath(digest), StandardCopyOption.ATOMIC_MOVE);
                builds.incrementAndGet();
                log.info("image_ref={} digest={} op=image_build duration_ms={}", ref, digest,
                        (System.nanoTime() - start) / 1_000_000);
            } catch (IOException e) {
                throw new DriverException("cannot store image " + ref + " (" + digest + "): " + e.getMessage(), e);
            } finally {
                if (Files.exists(work)) ImageFiles.deleteTree(work);
            }
            return load(ref, digest);
        });
    }

    /** Work dirs of a digest left by a crashed build; safe to delete because we hold that digest's lock. */
    private void removeLeftovers(String name) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(tmpDir, name + "-*")) {
            for (Path p : entries) {
                log.info("op=image_cleanup removing leftover {}", p);
                ImageFiles.deleteTree(p);
            }
        } catch (IOException e) {
            throw new DriverException("cannot list " + tmpDir + ": " + e.getMessage(), e);
        }
    }

    private UnpackedImage load(String ref, String digest) {
        Path dir = imagePath(digest);
        try {
            ImageMetadata m = ImageFiles.JSON.readValue(dir.resolve("image.json").toFile(), ImageMetadata.class);
            return new UnpackedImage(ref, digest, dir.resolve("rootfs"), m.env(), m.workdir(), m.cmd(), m.user());
        } catch (IOException e) {
            throw new DriverException("cannot read " + dir.resolve("image.json") + ": " + e.getMessage(), e);
        }
    }

    private <T> T withLock(Path lockFile, Supplier<T> body) {
        ReentrantLock jvmLock = JVM_LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
        jvmLock.lock();
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock fileLock = channel.lock();
            try {
                return body.get();
            } finally {
                fileLock.release();
            }
        } catch (IOException e) {
            throw new DriverException("cannot lock " + lockFile + ": " + e.getMessage(), e);
        } finally {
            jvmLock.unlock();
        }
    }

    // ---- ref index ----------------------------------------------------------------------------------------

    private Map<String, String> readRefIndex() {
        if (!Files.isRegularFile(refIndex)) return Map.of();
        Map<String, String> refs = new TreeMap<>();
        readJsonFile(refIndex).path("refs").properties().forEach(e -> refs.put(e.getKey(), e.getValue().asText()));
        return refs;
    }

    private void recordRef(String canonical, String digest) {
        if (digest.equals(readRefIndex().get(canonical))) return;
        withLock(lockDir.resolve("refs.lock"), () -> {
            Map<String, String> refs = new TreeMap<>(readRefIndex());
            refs.put(canonical, digest);
            writeRefIndex(refs);
            return null;
        });
    }

    private void writeRefIndex(Map<String, String> refs) {
        ObjectNode root = ImageFiles.JSON.createObjectNode();
        root.put("schema", 1);
        root.set("refs", ImageFiles.JSON.valueToTree(refs));
        ImageFiles.writeJsonAtomically(refIndex, root);
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    private static Map<String, String> env(List<String> entries) {
        Map<String, String> env = new LinkedHashMap<>();
        for (String e : entries) {
            int eq = e.indexOf('=');
            if (eq > 0) env.put(e.substring(0, eq), e.substring(eq + 1));
        }
        return env;
    }

    private static JsonNode readJson(String text, String what) {
        try {
            return ImageFiles.JSON.readTree(text);
        } catch (IOException e) {
            throw new DriverException("cannot parse " + what + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode readJsonFile(Path file) {
        try {
            return ImageFiles.JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new DriverException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
