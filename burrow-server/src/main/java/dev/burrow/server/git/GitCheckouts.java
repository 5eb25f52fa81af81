package dev.burrow.server.git;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;

/**
 * Clones the repositories of a create request on the host, with the host's {@code git}, into a scratch directory of
 * the data dir; the lifecycle then copies each checkout into the VM (confined, without following the VM's links)
 * and the caller deletes the scratch. Cloning happens before the VM exists, so a failed clone fails the request
 * with git's own message and leaves nothing.
 * <p>
 * The clone must not reach the host's own files or credentials: only {@code https}, {@code http} and {@code git}
 * URLs are taken (no {@code file://}, local paths, {@code ssh}/scp-style addresses that would use the host's keys,
 * or {@code ext::} helpers), git runs with an empty environment of its own ({@code HOME} in the scratch, no system
 * or global config, no credential helper, no prompts, no templates or hooks), and {@code GIT_ALLOW_PROTOCOL}
 * restricts every transport git opens, submodules included.
 */
public final class GitCheckouts {
    private static final Logger log = LoggerFactory.getLogger(GitCheckouts.class);
    private static final Pattern URL = Pattern.compile("(?i)(https?|git)://[^\\s/@]+(@[^\\s/@]+)?(:\\d+)?/\\S*");
    private static final Pattern REV = Pattern.compile("[A-Za-z0-9._/@^~{}+-]{1,255}");
    private static final int MAX_REPOS = 20;
    private static final int MAX_MESSAGE = 2000;

    private final Path scratch;
    private final Duration timeout;

    /** One repository to clone: {@code url}, the absolute {@code path} in the VM, an optional {@code rev}. */
    public record Request(String url, String path, String rev) { }

    /** A finished clone on the host and where it goes in the VM. */
    public record Checkout(Path dir, String path) { }

    /**
     * @param scratch a directory of the data dir owned by this class; what a crashed server left there is removed
     */
    public GitCheckouts(Path scratch, Duration timeout) {
        this.scratch = scratch;
        this.timeout = timeout;
        deleteTree(scratch);
    }

    /** Refuses what must never be cloned (see the class comment); {@code field} names the request field. */
    public static void validate(Request r, String field) {
        if (r.url() == null || r.url().isBlank()) throw bad(field + ".repo is required (the repository's URL)");
        if (!URL.matcher(r.url()).matches() || r.url().length() > 2048) {
            throw bad(field + ".repo must be an https://, http:// or git:// URL, got '" + redact(abbreviate(r.url()))
                    + "' (local paths, file://, ssh and other transports are refused: they would read the server's own"
                    + " files or use its credentials)");
        }
        if (r.path() == null || !r.path().startsWith("/") || r.path().indexOf('\0') >= 0 || r.path().length() > 4096
                || List.of(r.path().split("/")).contains("..") || r.path().replace("/", "").isEmpty()) {
            throw bad(field + ".path must be an absolute path (not '/') without '..'");
        }
        if (r.rev() != null && (!REV.matcher(r.rev()).matches() || r.rev().startsWith("-") || r.rev().contains(".."))) {
            throw bad(field + ".rev must be a branch, tag or commit (letters, digits, ._/@^~{}+-, not starting with '-')");
        }
    }

    /** Clones every request; on any failure deletes what was cloned and throws the git error as a 400. */
    public List<Checkout> cloneAll(List<Request> requests) {
        if (requests.size() > MAX_REPOS) throw bad("at most " + MAX_REPOS + " repositories per VM");
        List<Checkout> done = new ArrayList<>();
        try {
            for (Request r : requests) done.add(cloneOne(r));
            return done;
        } catch (RuntimeException e) {
            delete(done);
            throw e;
        }
    }

    public void delete(List<Checkout> checkouts) {
        for (Checkout c : checkouts) deleteTree(c.dir().getParent());
    }

    private Checkout cloneOne(Request r) {
        Path work;
        try {
            Files.createDirectories(scratch);
            work = Files.createTempDirectory(scratch, "clone-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make a scratch directory for a git clone in " + scratch, e);
        }
        try {
            Path dir = work.resolve("repo");
            git(work, r.url(), "clone", "--quiet", "--template=", "--no-recurse-submodules", "--", r.url(), dir.toString());
            if (r.rev() != null) {
                git(work, r.url(), "-C", dir.toString(), "-c", "advice.detachedHead=false", "checkout", "--quiet", r.rev(), "--");
            }
            log.info("op=git-clone url={} rev={} path={}", redact(r.url()), r.rev(), r.path());
            return new Checkout(dir, r.path());
        } catch (RuntimeException e) {
            deleteTree(work);
            throw e;
        }
    }

    private void git(Path work, String url, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never",
                "-c", "credential.helper=", "-c", "core.hooksPath=/dev/null"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true);
        Path out = work.resolve("git-output");
        pb.redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Map<String, String> env = pb.environment();
        String path = env.getOrDefault("PATH", "/usr/bin:/bin");
        env.clear();
        env.putAll(Map.of("PATH", path, "HOME", work.toString(), "GIT_CONFIG_NOSYSTEM", "1", "GIT_CONFIG_GLOBAL", "/dev/null",
                "GIT_TERMINAL_PROMPT", "0", "GIT_ALLOW_PROTOCOL", "http:https:git", "LC_ALL", "C"));
        int code;
        try {
            Process p = pb.start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "GIT_CLONE_FAILED", "git did not finish cloning '"
                        + redact(url) + "' within " + timeout.toSeconds() + " s");
            }
            code = p.exitValue();
        } catch (IOException e) {
            throw new BurrowException(BurrowException.Kind.UNAVAILABLE, "GIT_UNAVAILABLE",
                    "cannot run git on the server (is it installed?): " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while cloning " + redact(url), e);
        }
        if (code != 0) {
            String text;
            try {
                text = Files.readString(out, StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                text = "(no output)";
            }
            if (text.length() > MAX_MESSAGE) text = "…" + text.substring(text.length() - MAX_MESSAGE);
            boolean checkout = List.of(args).contains("checkout");
            throw new BurrowException(BurrowException.Kind.BAD_REQUEST, "GIT_CLONE_FAILED", (checkout
                    ? "git checkout of '" + args[args.length - 2] + "' in '" + redact(url) + "' failed: "
                    : "git clone of '" + redact(url) + "' failed: ") + redact(text));
        }
    }

    /** Hides the password of a {@code https://user:secret@host/...} URL in anything that leaves the server. */
    static String redact(String s) {
        return s.replaceAll("(?i)((?:https?|git)://)[^\\s/@]+@", "$1***@");
    }

    private static String abbreviate(String s) {
        return s.length() > 100 ? s.substring(0, 100) + "…" : s;
    }

    private static BurrowException bad(String message) {
        return BurrowException.badRequest("CREATE_VM_BAD_REQUEST", message);
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (var s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    log.warn("op=git-clone cannot delete {}: {}", p, e.getMessage());
                }
            });
        } catch (IOException | UncheckedIOException e) {
            log.warn("op=git-clone cannot delete {}: {}", dir, e.getMessage());
        }
    }
}
