package dev.burrow.driver.runc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.driver.runc.internal.BuiltinImages;
import dev.burrow.driver.runc.internal.HostCommand;
import dev.burrow.driver.runc.internal.ImageRef;

/**
 * Makes real OCI images without a registry or network: a busybox image in a local OCI layout (umoci), which
 * can then be pushed to a registry (skopeo). Used by tests and by {@code burrow bench} to exercise the image
 * paths of the driver against images whose content is known.
 */
public final class OciImages {
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    private static final ObjectMapper JSON = new ObjectMapper();

    private OciImages() { }

    /** {@link #buildBusyboxLayout(Path, String, Map, List)} with a PATH and {@code /bin/sh} as the command. */
    public static String buildBusyboxLayout(Path layoutDir, String tag) {
        return buildBusyboxLayout(layoutDir, tag,
                Map.of("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), List.of("/bin/sh"));
    }

    /**
     * Writes an image holding the host's busybox into the OCI layout {@code layoutDir} (created if missing)
     * under {@code tag}, with the given config env and command, and returns its manifest digest. The image is
     * built the way a real one is: umoci unpacks an empty image, the rootfs is filled, umoci repacks the change
     * as a layer, then sets the config.
     */
    public static String buildBusyboxLayout(Path layoutDir, String tag, Map<String, String> env, List<String> cmd) {
        String image = layoutDir + ":" + tag;
        if (!Files.isRegularFile(layoutDir.resolve("index.json"))) {
            umoci("init", "--layout", layoutDir.toString());
        }
        umoci("new", "--image", image);
        Path bundle = unpackToTemp(image);
        try {
            BuiltinImages.writeBusyboxRootfs(bundle.resolve("rootfs"));
            umoci("repack", "--image", image, bundle.toString());

            List<String> config = new ArrayList<>(List.of("config", "--image", image, "--config.workingdir", "/"));
            env.forEach((k, v) -> config.addAll(List.of("--config.env", k + "=" + v)));
            for (String arg : cmd) config.addAll(List.of("--config.cmd", arg));
            umoci(config.toArray(String[]::new));
            // config and repack each leave the previous manifest and config behind as unreferenced blobs.
            umoci("gc", "--layout", layoutDir.toString());
        } finally {
            HostCommand.of("rm", "-rf", "--one-file-system", bundle.toString()).run();
        }
        return manifestDigest(layoutDir, tag);
    }

    /**
     * Adds {@code layers} layers of {@code bytesPerLayer} random (incompressible) bytes each to {@code layoutDir:tag},
     * one {@code umoci repack} per layer, and returns the new manifest digest. Makes an image whose pull takes long
     * enough to watch, with known layer sizes.
     */
    public static String addRandomLayers(Path layoutDir, String tag, int layers, int bytesPerLayer) {
        String image = layoutDir + ":" + tag;
        var random = new java.util.Random(tag.hashCode() ^ layers);
        for (int i = 0; i < layers; i++) {
            Path bundle = unpackToTemp(image);
            try {
                byte[] data = new byte[bytesPerLayer];
                random.nextBytes(data);
                Files.write(bundle.resolve("rootfs").resolve("payload-" + i + ".bin"), data);
                umoci("repack", "--image", image, bundle.toString());
            } catch (IOException e) {
                throw new DriverException("cannot write a payload layer: " + e.getMessage(), e);
            } finally {
                HostCommand.of("rm", "-rf", "--one-file-system", bundle.toString()).run();
            }
        }
        umoci("gc", "--layout", layoutDir.toString());
        return manifestDigest(layoutDir, tag);
    }

    /** {@code umoci unpack}s {@code image} into a new temp bundle dir, which the caller removes. */
    private static Path unpackToTemp(String image) {
        Path bundle;
        try {
            bundle = Files.createTempDirectory("burrow-oci-bundle-");
            Files.delete(bundle); // umoci unpack insists on creating the bundle directory itself
        } catch (IOException e) {
            throw new DriverException("cannot create a temp bundle dir: " + e.getMessage(), e);
        }
        List<String> unpack = new ArrayList<>(List.of("unpack"));
        if (!runningAsRoot()) unpack.add("--rootless");
        unpack.addAll(List.of("--image", image, bundle.toString()));
        try {
            umoci(unpack.toArray(String[]::new));
        } catch (RuntimeException e) {
            HostCommand.of("rm", "-rf", "--one-file-system", bundle.toString()).run();
            throw e;
        }
        return bundle;
    }

    /** Sizes of the layers (in order) of the manifest {@code tag} names in the layout: what a registry pull fetches. */
    public static List<Long> layerSizes(Path layoutDir, String tag) {
        String digest = manifestDigest(layoutDir, tag);
        Path blob = layoutDir.resolve("blobs").resolve(digest.substring(0, digest.indexOf(':')))
                .resolve(digest.substring(digest.indexOf(':') + 1));
        try {
            List<Long> sizes = new ArrayList<>();
            for (JsonNode l : JSON.readTree(blob.toFile()).path("layers")) sizes.add(l.path("size").asLong());
            return sizes;
        } catch (IOException e) {
            throw new DriverException("cannot read manifest " + digest + ": " + e.getMessage(), e);
        }
    }

    /** The manifest digest that {@code tag} names in the OCI layout's index.json. */
    public static String manifestDigest(Path layoutDir, String tag) {
        try {
            JsonNode index = JSON.readTree(layoutDir.resolve("index.json").toFile());
            for (JsonNode m : index.path("manifests")) {
                if (tag.equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText(null))) {
                    return m.path("digest").asText();
                }
            }
        } catch (IOException e) {
            throw new DriverException("cannot read OCI layout " + layoutDir + ": " + e.getMessage(), e);
        }
        throw new DriverException("OCI layout " + layoutDir + " has no tag " + tag);
    }

    /**
     * Copies {@code layoutDir:tag} to a registry, e.g. {@code 127.0.0.1:5000/burrow/busybox:1}. Loopback
     * registries are spoken to over plain HTTP (that is how a test or bench registry runs); {@code credentials}
     * is {@code user:password} or null.
     */
    public static void pushToRegistry(Path layoutDir, String tag, String destination, String credentials) {
        String dest = destination.startsWith("docker://") ? destination : "docker://" + destination;
        if (!(ImageRef.parse(dest) instanceof ImageRef.Registry registry)) {
            throw BurrowException.of(ErrorCode.INVALID_IMAGE, "not a registry reference: " + destination);
        }
        List<String> args = new ArrayList<>(List.of("skopeo", "copy", "--quiet"));
        if (registry.loopback()) args.add("--dest-tls-verify=false");
        Path authFile = null;
        try {
            if (credentials != null) {
                // An auth file rather than --dest-creds: the password must not show up in the process list or
                // in the command line an error message quotes.
                authFile = writeAuthFile(registry.host(), credentials);
                args.addAll(List.of("--dest-authfile", authFile.toString()));
            }
            args.addAll(List.of("oci:" + layoutDir + ":" + tag, dest));
            HostCommand.of(args).timeout(TIMEOUT).check();
        } finally {
            if (authFile != null) {
                try {
                    Files.deleteIfExists(authFile);
                } catch (IOException ignored) {
                    // a temp file; the push result is what matters
                }
            }
        }
    }

    /**
     * Writes a containers-auth.json ({@code {"auths": {host: {"auth": base64(user:password)}}}}) readable only by
     * its owner, the format skopeo's {@code --authfile} and the store's {@code Settings.authFile} take.
     */
    public static Path writeAuthFile(String registryHost, String credentials) {
        try {
            Path file = Files.createTempFile("burrow-auth-", ".json",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            var root = JSON.createObjectNode();
            root.putObject("auths").putObject(registryHost).put("auth",
                    Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8)));
            Files.write(file, JSON.writeValueAsBytes(root));
            return file;
        } catch (IOException e) {
            throw new DriverException("cannot write a registry auth file: " + e.getMessage(), e);
        }
    }

    private static void umoci(String... args) {
        List<String> full = new ArrayList<>(List.of("umoci"));
        full.addAll(List.of(args));
        HostCommand.of(full).timeout(TIMEOUT).check();
    }

    private static boolean runningAsRoot() {
        try {
            return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }
}
