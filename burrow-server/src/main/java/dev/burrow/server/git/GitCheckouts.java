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

import dev.burrow.core.driver.SandboxNetns;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.CreateVmCommand;
import dev.burrow.core.lifecycle.RepoCloner;

/**
 * Clones the repositories of a create request with the host's {@code git}, into a scratch directory of the data dir,
 * but through the new VM's own network: git runs in the VM's network namespace ({@code nsenter --net}), in a
 * private mount namespace whose /etc/resolv.conf is the VM's (names resolve through the VM's DNS forwarder), with
 * a minimal /etc/hosts and nsswitch.conf. So the clone obeys the VM's egress policy: it cannot reach the host
 * (its loopback is the VM's own, its addresses are refused to VMs), other VMs, denied ranges or names; a clone the
 * VM itself could not make fails. The lifecycle calls this once the VM exists, then copies each checkout into the
 * VM (confined, without following the VM's links) and deletes the scratch (the create pipeline's clone step,
 * {@link RepoCloner}). A failed clone fails the create
 * with git's own message (400 GIT_CLONE_FAILED) and the VM is rolled back.
 * <p>
 * The clone must not reach the host's own files or credentials: only {@code https}, {@code http} and {@code git}
 * URLs are taken (no {@code file://}, local paths, {@code ssh}/scp-style addresses that would use the host's keys,
 * or {@code ext::} helpers), git runs with an empty environment of its own ({@code HOME} in the scratch, no system
 * or global config, no credential helper, no prompts, no templates or hooks), and {@code GIT_ALLOW_PROTOCOL}
 * restricts every transport git opens, submodules included.
 */
public final class GitCheckouts implements RepoCloner {
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

    /** At most this many repositories per VM (checked with the request, before anything is made). */
    public static void validateCount(List<Request> requests) {
        if (requests.size() > MAX_REPOS) throw bad("at most " + MAX_REPOS + " repositories per VM");
    }

    /**
     * Clones every request inside {@code netns} (the VM's network); on any failure deletes what was cloned and
     * throws the git error as a 400.
     */
    private List<Checkout> cloneRequests(List<Request> requests, SandboxNetns netns) {
        validateCount(requests);
        if (netns == null) {
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD,
                    "this server's VM driver cannot clone repositories through a VM's network; remove 'gitRepos'/'git.repos'");
        }
        if (!netns.networked()) {
            for (Request r : requests) {
                if (!loopbackHost(r.url())) {
                    throw new BurrowException(ErrorCode.GIT_CLONE_FAILED, "cannot clone '"
                            + redact(r.url()) + "': this server runs VMs without networking (a VM's network namespace has"
                            + " only its own loopback), and repositories are cloned through the VM's network");
                }
            }
        }
        List<Checkout> done = new ArrayList<>();
        try {
            for (Request r : requests) done.add(cloneOne(r, netns));
            return done;
        } catch (RuntimeException e) {
            delete(done);
            throw e;
        }
    }

    /** The create pipeline's clone step: the checkouts, deleted from the scratch when the step's result is closed. */
    @Override
    public Clones cloneAll(List<CreateVmCommand.Repo> repos, SandboxNetns netns) {
        List<Checkout> checkouts = cloneRequests(repos.stream().map(r -> new Request(r.url(), r.path(), r.rev())).toList(), netns);
        List<CreateVmCommand.TreeCopy> trees = checkouts.stream().map(c -> new CreateVmCommand.TreeCopy(c.dir(), c.path())).toList();
        return new Clones() {
            @Override
            public List<CreateVmCommand.TreeCopy> trees() {
                return trees;
            }

            @Override
            public void close() {
                delete(checkouts);
            }
        };
    }

    public void delete(List<Checkout> checkouts) {
        for (Checkout c : checkouts) deleteTree(c.dir().getParent());
    }

    private static final Pattern HOST = Pattern.compile("(?i)^(?:https?|git)://(?:[^\\s/@]+@)?(\\[[^\\]]*\\]|[^\\s/:@]+)");

    /** Whether the URL's host is a loopback name or address (the VM's own loopback in its namespace). */
    static boolean loopbackHost(String url) {
        var m = HOST.matcher(url);
        if (!m.find()) return false;
        String h = m.group(1).toLowerCase(java.util.Locale.ROOT);
        return h.equals("localhost") || h.endsWith(".localhost") || h.equals("[::1]") || h.matches("127(\\.\\d{1,3}){3}");
    }

    private Checkout cloneOne(Request r, SandboxNetns netns) {
        Path work;
        try {
            Files.createDirectories(scratch);
            work = Files.createTempDirectory(scratch, "clone-");
            writeEtc(work.resolve("etc"), netns);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make a scratch directory for a git clone in " + scratch, e);
        }
        try {
            Path dir = work.resolve("repo");
            git(work, netns, r.url(), "clone", "--quiet", "--template=", "--no-recurse-submodules", "--", r.url(), dir.toString());
            if (r.rev() != null) {
                git(work, netns, r.url(), "-C", dir.toString(), "-c", "advice.detachedHead=false", "checkout", "--quiet", r.rev(), "--");
            }
            log.info("op=git-clone url={} rev={} path={}", redact(r.url()), r.rev(), r.path());
            return new Checkout(dir, r.path());
        } catch (RuntimeException e) {
            deleteTree(work);
            throw e;
        }
    }

    /**
     * What git's resolver reads, as the VM has it: the VM's resolv.conf (none without networking: nothing resolves),
     * loopback names only in hosts (the host's own entries mean nothing in the VM's network), files then DNS.
     */
    private static void writeEtc(Path etc, SandboxNetns netns) throws IOException {
        Files.createDirectories(etc);
        String resolv = netns.resolvConf() != null && Files.exists(netns.resolvConf()) ? Files.readString(netns.resolvConf()) : "";
        Files.writeString(etc.resolve("resolv.conf"), resolv);
        Files.writeString(etc.resolve("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
        Files.writeString(etc.resolve("nsswitch.conf"), "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n");
    }

    /**
     * Enters the VM's network namespace, then a private mount namespace with the VM's resolver files bound over the
     * host's (only this process tree sees them), then runs git.
     */
    private static final String IN_VM_NETWORK = "set -e; etc=$1; shift; "
            + "mount --bind \"$etc/resolv.conf\" /etc/resolv.conf; mount --bind \"$etc/hosts\" /etc/hosts; "
            + "if [ -e /etc/nsswitch.conf ]; then mount --bind \"$etc/nsswitch.conf\" /etc/nsswitch.conf; fi; exec \"$@\"";

    private void git(Path work, SandboxNetns netns, String url, String... args) {
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=" + netns.path(), "--", "unshare", "--mount",
                "--propagation", "private", "--", "sh", "-c", IN_VM_NETWORK, "sh", work.resolve("etc").toString()));
        cmd.addAll(List.of("git", "-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never",
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
                throw new BurrowException(ErrorCode.GIT_CLONE_FAILED, "git did not finish cloning '"
                        + redact(url) + "' within " + timeout.toSeconds() + " s");
            }
            code = p.exitValue();
        } catch (IOException e) {
            throw new BurrowException(ErrorCode.GIT_UNAVAILABLE,
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
            throw new BurrowException(ErrorCode.GIT_CLONE_FAILED, (checkout
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
        return BurrowException.of(ErrorCode.CREATE_VM_BAD_REQUEST, message);
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
