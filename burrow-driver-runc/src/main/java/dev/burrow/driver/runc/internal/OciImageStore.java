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
import dev.burrow.core.driver.SandboxDriver.ProgressListener;
import dev.burrow.core.error.BurrowException;

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
                String digest = layoutManifestDigest(ref, l.dir(), l.tag());
                yield ensure(ref, digest, l.canonical(), listener, work -> unpackLayout(l.dir(), l.tag(), digest, work,
                        listener));
            }
            case ImageRef.Registry r -> prepareRegistry(ref, r, listener);
        };
        recordRef(parsed.canonical(), image.digest());
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
        return Files.isRegularFile(imagePath(digest).resolve("image.json")) ? load(ref, digest) : null;
    }

    // ---- registry references ------------------------------------------------------------------------------

    private UnpackedImage prepareRegistry(String ref, ImageRef.Registry r, ProgressListener progress) {
        String digest = r.digest();
        int layers = -1;
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
                throw pullFailure(ref, inspect);
            }
            JsonNode info = readJson(inspect.stdout(), "skopeo inspect output for " + ref);
            if (digest == null) digest = info.path("Digest").asText("");
            layers = info.path("Layers").isArray() ? info.path("Layers").size() : -1;
            if (!DIGEST.matcher(digest).matches()) {
                throw new DriverException("skopeo inspect returned no usable digest for " + ref + ": '" + digest + "'");
            }
        }
        String pinned = digest;
        int layerCount = layers;
        return ensure(ref, digest, r.canonical(), progress, work -> {
            Path layout = work.resolve("scratch/layout");
            try {
                Files.createDirectories(layout.getParent());
            } catch (IOException e) {
                throw new DriverException("cannot create " + layout.getParent() + ": " + e.getMessage(), e);
            }
            progress.progress("pulling", layerCount > 0 ? 0.0 : -1);
            AtomicInteger copied = new AtomicInteger();
            // Pull by digest, not by tag: what is unpacked is exactly what was resolved even if the tag moves.
            HostCommand.Result copy = skopeo("copy", "--src-tls-verify", r,
                    List.of(r.pinned(pinned).skopeoRef(), "oci:" + layout + ":" + PULL_TAG))
                    .timeout(settings.pullTimeout())
                    .onLine(line -> {
                        if (line.startsWith("Copying blob") && layerCount > 0) {
                            progress.progress("pulling", Math.min(0.7, 0.7 * copied.incrementAndGet() / layerCount));
                        }
                    })
                    .run();
            if (!copy.ok()) throw pullFailure(ref, copy);
            return unpackLayout(layout, PULL_TAG, null, work, progress);
        });
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

    private static BurrowException pullFailure(String ref, HostCommand.Result result) {
        String detail = result.describeFailure();
        if (!result.timedOut() && NOT_FOUND.matcher(result.stderr()).find()) {
            return new BurrowException(BurrowException.Kind.NOT_FOUND, "IMAGE_NOT_FOUND",
                    "image " + ref + " not found: " + detail);
        }
        return new DriverException("cannot pull image " + ref + ": " + detail);
    }

    // ---- OCI layouts --------------------------------------------------------------------------------------

    /** The manifest digest a tag of a local layout points to, read from its index.json. */
    private static String layoutManifestDigest(String ref, Path layout, String tag) {
        Path index = layout.resolve("index.json");
        if (!Files.isRegularFile(index)) {
            throw BurrowException.notFound("IMAGE_NOT_FOUND", "image " + ref + " not found: no OCI layout at " + layout);
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
        throw BurrowException.notFound("IMAGE_NOT_FOUND",
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
            ObjectNode root = ImageFiles.JSON.createObjectNode();
            root.put("schema", 1);
            root.set("refs", ImageFiles.JSON.valueToTree(refs));
            ImageFiles.writeJsonAtomically(refIndex, root);
            return null;
        });
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
