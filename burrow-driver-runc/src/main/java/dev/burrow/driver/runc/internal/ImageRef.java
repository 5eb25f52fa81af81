package dev.burrow.driver.runc.internal;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * A parsed image reference. Parsing is pure (no I/O) so that a malformed reference is rejected as a bad
 * request before any tool runs, and so that two spellings of one image ({@code debian:12},
 * {@code docker.io/library/debian:12}, {@code docker://debian:12}) share one {@link #canonical()} key in
 * the ref index.
 */
public sealed interface ImageRef {

    /** The normalized spelling used as the key of the ref→digest index. */
    String canonical();

    /** {@code builtin:busybox} or {@code builtin:debian}. */
    record Builtin(String name) implements ImageRef {
        public static final Set<String> NAMES = Set.of("busybox", "debian");

        @Override
        public String canonical() {
            return "builtin:" + name;
        }
    }

    /** A local OCI image layout directory and a tag in its index ({@code latest} when none was given). */
    record OciLayout(Path dir, String tag) implements ImageRef {
        @Override
        public String canonical() {
            return "oci:" + dir + ":" + tag;
        }

        /** The {@code path:tag} form umoci's {@code --image} takes. */
        public String umociImage() {
            return dir + ":" + tag;
        }
    }

    /**
     * A registry reference. {@code host} is always explicit (Docker Hub is {@code docker.io}); exactly one of
     * {@code tag} and {@code digest} is non-null — when both were written, the digest pins the content and
     * the tag is dropped, because skopeo refuses references carrying both.
     */
    record Registry(String host, String repository, String tag, String digest) implements ImageRef {
        @Override
        public String canonical() {
            return "docker://" + host + "/" + repository + (digest != null ? "@" + digest : ":" + tag);
        }

        /** The skopeo transport string for this reference. */
        public String skopeoRef() {
            return canonical();
        }

        /** The same repository pinned to {@code manifestDigest}: what is pulled once the tag is resolved. */
        public Registry pinned(String manifestDigest) {
            return new Registry(host, repository, null, manifestDigest);
        }

        /** The host without its port, brackets kept for IPv6 ({@code [::1]}). */
        public String hostName() {
            if (host.startsWith("[")) return host.substring(0, host.indexOf(']') + 1);
            int colon = host.indexOf(':');
            return colon < 0 ? host : host.substring(0, colon);
        }

        /** Loopback registries are always reached without TLS: nothing on the wire leaves the host. */
        public boolean loopback() {
            String h = hostName();
            return h.equals("localhost") || h.equals("127.0.0.1") || h.equals("[::1]");
        }
    }

    // Grammar from the distribution reference spec (github.com/distribution/reference), simplified: path
    // components are lowercase alphanumerics joined by '.', '_', '__' or runs of '-'.
    Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    Pattern DIGEST = Pattern.compile("(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})");
    Pattern HOST = Pattern.compile("(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
            + "|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?");

    /** Parses a reference or throws a BAD_REQUEST {@code INVALID_IMAGE}. */
    static ImageRef parse(String ref) {
        if (ref == null || ref.isBlank()) throw invalid(ref, "empty image reference");
        if (!ref.equals(ref.strip()) || ref.chars().anyMatch(c -> c <= ' ' || c == 0x7f)) {
            throw invalid(ref, "whitespace or control characters");
        }
        if (ref.startsWith("builtin:")) {
            String name = ref.substring("builtin:".length());
            if (!Builtin.NAMES.contains(name)) {
                throw invalid(ref, "unknown builtin image (known: builtin:busybox, builtin:debian)");
            }
            return new Builtin(name);
        }
        if (ref.startsWith("oci:")) return parseLayout(ref);
        if (ref.startsWith("docker://")) return parseRegistry(ref, ref.substring("docker://".length()));
        // Other skopeo transports (oci-archive:/x, dir:/x, http://…) are not supported. In a registry reference
        // a colon is followed by a port or a tag, never by '/', which tells the two apart; anything else
        // malformed ("docker-daemon:foo:1") fails the repository grammar below.
        int colon = ref.indexOf(':');
        if (colon > 0 && ref.startsWith("/", colon + 1)) {
            throw invalid(ref, "unsupported transport '" + ref.substring(0, colon) + ":'");
        }
        return parseRegistry(ref, ref);
    }

    private static ImageRef parseLayout(String ref) {
        String rest = ref.substring("oci:".length());
        if (!rest.startsWith("/")) throw invalid(ref, "an OCI layout path must be absolute");
        String path = rest;
        String tag = "latest";
        int colon = rest.lastIndexOf(':');
        if (colon > rest.lastIndexOf('/')) {
            path = rest.substring(0, colon);
            tag = rest.substring(colon + 1);
            if (!TAG.matcher(tag).matches()) throw invalid(ref, "malformed tag '" + tag + "'");
        }
        Path dir = Path.of(path).normalize();
        if (dir.getNameCount() == 0) throw invalid(ref, "an OCI layout cannot be /");
        return new OciLayout(dir, tag);
    }

    private static ImageRef parseRegistry(String ref, String s) {
        String digest = null;
        int at = s.indexOf('@');
        if (at >= 0) {
            digest = s.substring(at + 1);
            s = s.substring(0, at);
            if (!DIGEST.matcher(digest).matches()) throw invalid(ref, "malformed digest '" + digest + "'");
        }
        String tag = null;
        int lastSlash = s.lastIndexOf('/');
        int tagColon = s.lastIndexOf(':');
        if (tagColon > lastSlash) {
            tag = s.substring(tagColon + 1);
            s = s.substring(0, tagColon);
            if (!TAG.matcher(tag).matches()) throw invalid(ref, "malformed tag '" + tag + "'");
        }
        String host = "docker.io";
        String repository = s;
        int slash = s.indexOf('/');
        if (slash > 0) {
            String first = s.substring(0, slash);
            // Docker's rule: the first component names a registry when it looks like a host, else it is part
            // of a Docker Hub repository path.
            if (first.contains(".") || first.contains(":") || first.startsWith("[") || first.equals("localhost")) {
                if (!HOST.matcher(first).matches()) throw invalid(ref, "malformed registry host '" + first + "'");
                host = first.toLowerCase(Locale.ROOT);
                repository = s.substring(slash + 1);
            }
        }
        if (host.equals("index.docker.io") || host.equals("registry-1.docker.io")) host = "docker.io";
        if (repository.isEmpty()) throw invalid(ref, "missing repository");
        for (String component : repository.split("/", -1)) {
            if (!COMPONENT.matcher(component).matches()) {
                throw invalid(ref, "malformed repository '" + repository + "'");
            }
        }
        if (host.equals("docker.io") && !repository.contains("/")) repository = "library/" + repository;
        if (digest == null && tag == null) tag = "latest";
        return new Registry(host, repository, digest == null ? tag : null, digest);
    }

    private static BurrowException invalid(String ref, String why) {
        return BurrowException.of(ErrorCode.INVALID_IMAGE, "invalid image reference '" + ref + "': " + why);
    }
}
