package dev.burrow.server.template;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.api.CreateVmRequest;
import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.CreateVmCommand;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.Persistence;
import dev.burrow.core.vm.Snapshot;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.server.http.Json;

/**
 * Snapshots built from templates ({@code POST /v1/vms/snapshots}) and from Dockerfiles ({@code template.baseImage}).
 *
 * <p>A build makes an internal VM through the normal create path (so image pulls, files, repositories, users,
 * services and admission control are the same as for any VM), waits until it runs a process, snapshots it and
 * deletes it, also when the build fails. A {@code baseImage} is its own layer: the Dockerfile is built into a
 * snapshot first (cached by its text), and the rest of the template is applied on a VM made from that snapshot.
 *
 * <p>Cache: the canonical JSON of the template (keys sorted, nulls dropped, {@code skipCache} left out,
 * {@code discriminator} kept) hashed with SHA-256 is the snapshot's {@code templateHash}; the newest snapshot that
 * is not failed with that hash is returned without building unless {@code skipCache}, and the new snapshot then
 * becomes the cache entry. Identical requests are serialized on the hash, so concurrent ones build once. A failed
 * build is recorded as a failed snapshot (listed with its reason, never created from) and answered with a 400.
 */
public final class TemplateBuilds {
    private static final Logger log = LoggerFactory.getLogger(TemplateBuilds.class);
    private static final String CAUSE = "template-build";
    /** The cause a template build VM's create is recorded with: that of the API request it serves. */
    private static final String BUILD_VM_CAUSE = "api";
    /** Label of the internal build VMs. */
    public static final String BUILD_LABEL = "burrow-template-build";
    private static final Duration STEP_TIMEOUT = Duration.ofMinutes(30);
    private static final int TAIL_BYTES = 2000;
    /** Template fields that only shape the build VM's lifetime: with nothing else, a baseImage is the whole build. */
    private static final Set<String> NOT_CONTENT = Set.of("discriminator", "skipCache", "persistence", "waitForReadySignal",
            "readySignalTimeoutSeconds", "idleTimeoutSeconds", "baseImage");

    private final LifecycleCoordinator lifecycle;
    /** The create request of a build VM: the wire request merged and mapped like {@code POST /v1/vms}'s. */
    private final Function<CreateVmRequest, CreateVmCommand> vms;
    /** One build per template hash at a time; entries go away when nobody holds or waits for them. */
    private final dev.burrow.core.internal.KeyedLocks locks = new dev.burrow.core.internal.KeyedLocks();
    /** Identical requests wait for the build under way (RUN steps may install packages) rather than fail. */
    private static final java.time.Duration BUILD_WAIT = java.time.Duration.ofHours(2);

    public TemplateBuilds(LifecycleCoordinator lifecycle, Function<CreateVmRequest, CreateVmCommand> vms) {
        this.lifecycle = lifecycle;
        this.vms = vms;
    }

    /** The result of {@link #ensure}: the snapshot and whether it was built by this call (false = from the cache). */
    public record Result(Snapshot snapshot, boolean built) { }

    /** {@code POST /v1/vms/snapshots}: the cached snapshot of this template, or a new one built from it. */
    public Result ensure(String name, Map<String, Object> template, Persistence persistence) {
        if (template == null) throw bad("'template' is required");
        boolean skipCache = Boolean.TRUE.equals(template.get("skipCache"));
        String dockerfile = dockerfileOf(template);
        Dockerfile parsed = dockerfile == null ? null : Dockerfile.parse(dockerfile);
        Map<String, Object> rest = new LinkedHashMap<>(template);
        rest.remove("baseImage");
        rest.remove("skipCache");
        CreateVmRequest req = toRequest(rest);
        if (parsed != null && (req.image() != null || req.snapshotId() != null)) {
            throw bad("give either 'baseImage' or 'image'/'snapshotId' in a template, not both");
        }
        vms.apply(req); // every field validated before anything is built
        String hash = templateHash(template);
        try (var held = locks.acquire(hash, BUILD_WAIT, "template-build")) {
            if (!skipCache) {
                var cached = cachedSnapshot(hash, persistence);
                if (cached != null) return new Result(cached, false);
            }
            boolean contentBeyondBase = template.keySet().stream().anyMatch(k -> template.get(k) != null && !NOT_CONTENT.contains(k));
            if (parsed != null && !contentBeyondBase) {
                return baseImage(parsed, dockerfile, skipCache, name, persistence);
            }
            String baseId = null;
            if (parsed != null) baseId = baseImage(parsed, dockerfile, skipCache, null, Persistence.DEFAULT).snapshot().id();
            if (baseId != null) rest.put("snapshotId", baseId);
            return new Result(buildTemplate(toRequest(rest), name, persistence, hash), true);
        }
    }

    /**
     * The snapshot a Dockerfile builds into (cached by its text unless {@code skipCache}); {@code POST /v1/vms} with
     * {@code template.baseImage} creates its VM from it.
     */
    public Result baseImage(Dockerfile parsed, String dockerfile, boolean skipCache, String name, Persistence persistence) {
        String hash = sha256("dockerfile\n" + dockerfile);
        try (var held = locks.acquire(hash, BUILD_WAIT, "dockerfile-build")) {
            if (!skipCache) {
                var cached = cachedSnapshot(hash, persistence);
                if (cached != null) return new Result(cached, false);
            }
            return new Result(buildDockerfile(parsed, name, persistence, hash), true);
        }
    }

    /** {@code template.baseImage.dockerfileContent}, or null without a baseImage. */
    public static String dockerfileOf(Map<String, Object> template) {
        Object base = template.get("baseImage");
        if (base == null) return null;
        if (!(base instanceof Map<?, ?> m) || !(m.get("dockerfileContent") instanceof String s)) {
            throw bad("'template.baseImage' must be {\"dockerfileContent\": \"<Dockerfile>\"}");
        }
        return s;
    }

    private Snapshot cachedSnapshot(String hash, Persistence requested) {
        var found = lifecycle.findSnapshotByTemplate(hash);
        if (found.isEmpty()) return null;
        Snapshot s = found.get();
        lifecycle.touchSnapshot(s.id());
        // a request for a persistent snapshot makes the cached one persistent; nothing is ever made weaker
        if (requested != null && requested.type() == Persistence.Type.PERSISTENT
                && s.persistence().type() != Persistence.Type.PERSISTENT) {
            s = lifecycle.updateSnapshot(s.id(), x -> x.withPersistence(requested), CAUSE);
        }
        log.info("snapshot_id={} op=template-cache-hit template_hash={}", s.id(), hash);
        return s;
    }

    // ---- template builds ----

    private Snapshot buildTemplate(CreateVmRequest req, String name, Persistence persistence, String hash) {
        Map<String, String> labels = new LinkedHashMap<>(req.labels() == null ? Map.of() : req.labels());
        labels.put(BUILD_LABEL, "template");
        CreateVmRequest buildReq = with(req, labels);
        long t0 = System.nanoTime();
        Vm vm;
        try {
            vm = lifecycle.create(vms.apply(buildReq), BUILD_VM_CAUSE);
        } catch (RuntimeException e) {
            throw failed(name, null, specOf(req), persistence, hash, "creating the build VM failed: " + e.getMessage(), e);
        }
        try {
            ready(vm);
            Snapshot snap = lifecycle.snapshot(vm.id(), name, persistence, hash, null, null, CAUSE);
            log.info("snapshot_id={} op=template-build template_hash={} duration_ms={}", snap.id(), hash,
                    (System.nanoTime() - t0) / 1_000_000);
            return snap;
        } catch (RuntimeException e) {
            throw failed(name, vm.id(), vm.spec(), persistence, hash, e.getMessage(), e);
        } finally {
            deleteQuietly(vm);
        }
    }

    // ---- Dockerfile builds ----

    private Snapshot buildDockerfile(Dockerfile df, String name, Persistence persistence, String hash) {
        var spec = new VmSpec(df.from(), VmSpec.DEFAULT_VCPUS, VmSpec.DEFAULT_MEM_MB, null, null, 0, Persistence.DEFAULT,
                Map.of(BUILD_LABEL, "dockerfile"), null, null);
        long t0 = System.nanoTime();
        Vm vm;
        try {
            vm = lifecycle.create(new CreateVmCommand(spec, Map.of()), CAUSE);
        } catch (RuntimeException e) {
            throw failed(name, null, spec, persistence, hash, "FROM " + df.from() + ": " + e.getMessage(), e);
        }
        try {
            Map<String, String> env = new LinkedHashMap<>();   // ENV: recorded, inherited by VMs
            Map<String, String> args = new LinkedHashMap<>();  // ARG: build time only
            Map<String, String> vars = baseEnv(vm);            // for $VAR in ENV/WORKDIR/USER: the image's env first
            String workdir = null;
            String user = null;
            List<String> shell = List.of("/bin/sh", "-c");
            for (Dockerfile.Step step : df.steps()) {
                switch (step.keyword()) {
                    case "ENV" -> {
                        for (var kv : Dockerfile.keyValues(step.args(), vars, step.line())) {
                            checkEnv(kv.getKey(), kv.getValue(), step);
                            env.put(kv.getKey(), kv.getValue());
                            vars.put(kv.getKey(), kv.getValue());
                        }
                    }
                    case "ARG" -> {
                        for (String a : step.args().strip().split("\\s+")) {
                            int eq = a.indexOf('=');
                            String k = eq < 0 ? a : a.substring(0, eq);
                            String v = eq < 0 ? "" : Dockerfile.substitute(unquote(a.substring(eq + 1)), vars);
                            checkEnv(k, v, step);
                            if (env.containsKey(k)) continue; // an ENV of the same name wins, as in Docker
                            args.put(k, v);
                            vars.put(k, v);
                        }
                    }
                    case "WORKDIR" -> {
                        String w = Dockerfile.substitute(unquote(step.args().strip()), vars);
                        if (w.isEmpty()) throw Dockerfile.bad("line " + step.line() + ": WORKDIR needs a path");
                        if (!w.startsWith("/")) w = (workdir == null ? "/" : workdir.endsWith("/") ? workdir : workdir + "/") + w;
                        if (w.indexOf('\0') >= 0 || List.of(w.split("/")).contains("..")) {
                            throw Dockerfile.bad("line " + step.line() + ": WORKDIR must not contain '..'");
                        }
                        workdir = w;
                        // Docker creates the directory (as root)
                        run(vm, step, List.of("/bin/mkdir", "-p", w), Map.of(), null, null);
                    }
                    case "USER" -> {
                        String u = Dockerfile.substitute(unquote(step.args().strip()), vars);
                        if (u.isEmpty() || u.chars().anyMatch(Character::isWhitespace)) {
                            throw Dockerfile.bad("line " + step.line() + ": USER needs one user name or uid[:gid]");
                        }
                        user = u.equals("root") || u.equals("0") || u.equals("0:0") ? null : u;
                    }
                    case "SHELL" -> {
                        List<String> form = Dockerfile.execForm(step.args());
                        if (form == null) throw Dockerfile.bad("line " + step.line() + ": SHELL needs the JSON form, e.g. [\"/bin/bash\", \"-c\"]");
                        shell = form;
                    }
                    case "RUN" -> {
                        List<String> argv = Dockerfile.execForm(step.args());
                        if (argv == null) {
                            argv = new ArrayList<>(shell);
                            argv.add(shellCommand(step));
                        }
                        Map<String, String> stepEnv = new LinkedHashMap<>(args);
                        stepEnv.putAll(env);
                        run(vm, step, argv, stepEnv, workdir, user);
                    }
                    default -> throw new IllegalStateException("unexpected step " + step.keyword());
                }
            }
            var s = vm.spec();
            VmSpec recorded = new VmSpec(df.from(), s.vcpuCount(), s.memSizeMb(), env, workdir, null, Persistence.DEFAULT,
                    Map.of(), null, null);
            Snapshot snap = lifecycle.snapshot(vm.id(), name, persistence, hash, user, recorded, CAUSE);
            log.info("snapshot_id={} op=dockerfile-build from={} steps={} duration_ms={}", snap.id(), df.from(),
                    df.steps().size(), (System.nanoTime() - t0) / 1_000_000);
            return snap;
        } catch (RuntimeException e) {
            throw failed(name, vm.id(), spec, persistence, hash, e.getMessage(), e);
        } finally {
            deleteQuietly(vm);
        }
    }

    /** The shell command of a shell-form RUN; a RUN that is only a here-document runs the document as the script. */
    static String shellCommand(Dockerfile.Step step) {
        String args = step.args().strip();
        if (step.heredocs().isEmpty()) return args;
        if (args.matches("<<-?(['\"]?)[A-Za-z_][A-Za-z0-9_]*\\1") && step.heredocs().size() == 1) {
            return step.heredocs().get(0);
        }
        // a command reading here-documents: hand the shell the command and the documents as written
        StringBuilder sb = new StringBuilder(args).append('\n');
        var m = java.util.regex.Pattern.compile("<<-?(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\\1").matcher(args);
        int i = 0;
        while (m.find() && i < step.heredocs().size()) {
            sb.append(step.heredocs().get(i++)).append(m.group(2)).append('\n');
        }
        return sb.toString();
    }

    /** The environment a process of the VM starts with (image env), for substitutions like {@code $PATH}. */
    private Map<String, String> baseEnv(Vm vm) {
        Map<String, String> vars = new LinkedHashMap<>();
        ExecResult r = lifecycle.exec(vm.id(), ExecRequest.of("env", Duration.ofMinutes(1)), CAUSE);
        if (r.exitCode() != 0) return vars;
        for (String line : r.stdout().split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) vars.put(line.substring(0, eq), line.substring(eq + 1));
        }
        vars.remove("HOSTNAME");
        return vars;
    }

    /** Runs one step in the build VM; a non-zero exit fails the build with the step and the tail of its output. */
    private void run(Vm vm, Dockerfile.Step step, List<String> argv, Map<String, String> env, String workdir, String user) {
        var spec = new ProcessSpec(argv, env, workdir, user, false, 0, 0, null);
        long t0 = System.nanoTime();
        try (var p = lifecycle.spawn(vm.id(), spec, CAUSE)) {
            p.stdin().close();
            var out = new Tail();
            Thread to = Thread.ofVirtual().start(() -> drain(p.stdout(), out));
            Thread te = Thread.ofVirtual().start(() -> drain(p.stderr(), out));
            var code = p.waitFor(STEP_TIMEOUT);
            if (code.isEmpty()) p.close();
            to.join(5000);
            te.join(5000);
            if (code.isEmpty() || code.getAsInt() != 0) {
                String text = step.text().length() > 200 ? step.text().substring(0, 200) + "…" : step.text();
                throw BurrowException.badRequest("SNAPSHOT_BUILD_FAILED", "Dockerfile line " + step.line() + ": '" + text + "' "
                        + (code.isEmpty() ? "timed out after " + STEP_TIMEOUT.toMinutes() + " min" : "exited " + code.getAsInt())
                        + "; output (tail): " + out.text());
            }
            log.debug("vm_id={} op=dockerfile-step line={} duration_ms={}", vm.id(), step.line(), (System.nanoTime() - t0) / 1_000_000);
        } catch (IOException e) {
            throw BurrowException.badRequest("SNAPSHOT_BUILD_FAILED", "Dockerfile line " + step.line() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during a build step", e);
        }
    }

    /** The last {@value #TAIL_BYTES} bytes of a step's output (stdout and stderr as they come). */
    private static final class Tail {
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        synchronized void write(byte[] b, int n) {
            buf.write(b, 0, n);
            if (buf.size() > 4 * TAIL_BYTES) {
                byte[] all = buf.toByteArray();
                buf.reset();
                buf.write(all, all.length - TAIL_BYTES, TAIL_BYTES);
            }
        }

        synchronized String text() {
            byte[] all = buf.toByteArray();
            int from = Math.max(0, all.length - TAIL_BYTES);
            return new String(all, from, all.length - from, StandardCharsets.UTF_8).strip();
        }
    }

    private static void drain(InputStream in, Tail sink) {
        byte[] b = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(b)) >= 0) sink.write(b, n);
        } catch (IOException e) {
            // the process ended or was killed
        }
    }

    // ---- shared ----

    /** The build VM runs a fresh process (what a ready VM does) before anything is snapshotted. */
    private void ready(Vm vm) {
        ExecResult r = lifecycle.exec(vm.id(), ExecRequest.of("true", Duration.ofMinutes(2)), CAUSE);
        if (r.exitCode() != 0 || r.timedOut()) {
            throw BurrowException.badRequest("SNAPSHOT_BUILD_FAILED", "the build VM did not become ready"
                    + (r.timedOut() ? " (timed out)" : " (exit " + r.exitCode() + ")"));
        }
    }

    /**
     * Records the failed attempt and answers with a 400 that says why (an image that cannot be pulled, a step that
     * fails, a build VM that cannot be made, a registry that cannot be reached: the message says which); only an
     * unavailable server (store outage, no capacity) stays a 503. A host failure is answered without its detail (host
     * paths, command lines), which goes to the log.
     */
    private RuntimeException failed(String name, String vmId, VmSpec spec, Persistence persistence, String hash,
                                    String reason, RuntimeException error) {
        // the node is full or busy: nothing about the template failed, so no failed build is recorded (cached)
        if (error instanceof BurrowException b && (b.kind() == BurrowException.Kind.UNAVAILABLE
                || b.kind() == BurrowException.Kind.TOO_MANY_REQUESTS)) {
            return b;
        }
        if (!(error instanceof BurrowException b) || b instanceof DriverException
                || b.kind() == BurrowException.Kind.INTERNAL) {
            // a host failure: its message names host paths or a tool's command line, which stay in the log
            log.warn("op=template-build template_hash={} host failure: {}", hash, reason, error);
            reason = "the host failed to build it (the server log has the details)";
        }
        try {
            lifecycle.recordFailedSnapshot(name, vmId, spec, persistence, hash, reason);
        } catch (RuntimeException e) {
            log.warn("op=template-build cannot record the failed build: {}", e.getMessage());
        }
        log.warn("op=template-build template_hash={} failed: {}", hash, reason);
        boolean ours = error instanceof BurrowException b && b.code().equals("SNAPSHOT_BUILD_FAILED");
        return BurrowException.badRequest("SNAPSHOT_BUILD_FAILED", ours ? reason : "snapshot build failed: " + reason);
    }

    private void deleteQuietly(Vm vm) {
        try {
            lifecycle.delete(vm.id(), CAUSE);
        } catch (RuntimeException e) {
            // the reconciler removes what is left; the build's answer does not depend on it
            log.warn("vm_id={} op=template-build cannot delete the build VM: {}", vm.id(), e.getMessage());
        }
    }

    private static void checkEnv(String k, String v, Dockerfile.Step step) {
        if (k.isEmpty() || k.contains("=") || k.indexOf('\0') >= 0 || v.indexOf('\0') >= 0) {
            throw Dockerfile.bad("line " + step.line() + ": invalid variable name '" + k + "'");
        }
    }

    private static String unquote(String s) {
        if (s.length() >= 2 && (s.startsWith("\"") && s.endsWith("\"") || s.startsWith("'") && s.endsWith("'"))) {
            return s.substring(1, s.length() - 1);
        }
        return s;
    }

    static CreateVmRequest toRequest(Map<String, Object> template) {
        try {
            return Json.MAPPER.convertValue(template, CreateVmRequest.class);
        } catch (IllegalArgumentException e) {
            throw bad("invalid 'template': " + e.getMessage().split("\n")[0]);
        }
    }

    private static VmSpec specOf(CreateVmRequest r) {
        return new VmSpec(r.image(), VmSpec.DEFAULT_VCPUS, VmSpec.DEFAULT_MEM_MB, r.env(), r.workdir(), null, null,
                r.labels(), null, r.snapshotId());
    }

    /** The same request with other labels and never idle-suspended (a build must not be frozen halfway). */
    private static CreateVmRequest with(CreateVmRequest r, Map<String, String> labels) {
        @SuppressWarnings("unchecked")
        Map<String, Object> m = Json.MAPPER.convertValue(r, Map.class);
        m.put("labels", labels);
        m.put("idleTimeoutSeconds", 0);
        return Json.MAPPER.convertValue(m, CreateVmRequest.class);
    }

    /** SHA-256 of the template's canonical JSON: keys sorted, nulls dropped, skipCache left out. */
    static String templateHash(Map<String, Object> template) {
        Map<String, Object> t = new TreeMap<>(template);
        t.remove("skipCache");
        try {
            return sha256("template\n" + Json.MAPPER.writeValueAsString(canonical(t)));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    @SuppressWarnings("unchecked")
    private static Object canonical(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new TreeMap<>();
            m.forEach((k, x) -> {
                if (x != null) out.put(String.valueOf(k), canonical(x));
            });
            return out;
        }
        if (v instanceof List<?> l) return l.stream().map(TemplateBuilds::canonical).toList();
        return v;
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static BurrowException bad(String message) {
        return BurrowException.badRequest("CREATE_SNAPSHOT_BAD_REQUEST", message);
    }
}
