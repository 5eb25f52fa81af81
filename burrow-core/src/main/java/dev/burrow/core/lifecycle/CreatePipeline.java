package dev.burrow.core.lifecycle;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.fault.Failpoints;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;

/**
 * The steps of a create once the VM's row says {@code creating}, in order. {@link #HOST_STEPS} run under the VM's lock
 * and a create slot; when one throws, whatever the driver made is destroyed and the VM ends deleted
 * ({@link CreateOperation} rolls back). {@link #RUNNING_STEPS} run once the VM is running (also for an idempotent
 * replay's VM, as they always did); when one fails the VM is deleted. The design page lists the same steps.
 */
final class CreatePipeline {
    /** One named step; {@code run} throws to fail the create. */
    record Step(String name, StepRun run) { }

    @FunctionalInterface
    interface StepRun {
        void run(CreatePipeline pipeline, Context c);
    }

    /** What the steps of one create share: the VM, its request, the spec it runs with, and what steps made. */
    static final class Context {
        /** The VM's row; it carries the driver's handle from the services step on. */
        Vm vm;
        final CreateVmCommand command;
        /** The request's spec with what a snapshot recorded merged in. */
        final VmSpec spec;
        final String driverImageRef;
        final String cause;
        String handle;
        RepoCloner.Clones clones;

        Context(Vm vm, CreateVmCommand command, VmSpec spec, String driverImageRef, String cause) {
            this.vm = vm;
            this.command = command;
            this.spec = spec;
            this.driverImageRef = driverImageRef;
            this.cause = cause;
        }

        String id() {
            return vm.id();
        }
    }

    /** Under the VM's lock, before it is reported running. */
    static final List<Step> HOST_STEPS = List.of(
            new Step("driver create", CreatePipeline::driverCreate),
            new Step("clones", CreatePipeline::clones),
            new Step("files", CreatePipeline::files),
            new Step("trees", CreatePipeline::trees),
            new Step("accounts", CreatePipeline::accounts),
            new Step("packages", CreatePipeline::packages),
            new Step("services", CreatePipeline::services));

    /** Once the VM runs, without its lock. */
    static final List<Step> RUNNING_STEPS = List.of(
            new Step("ready wait", CreatePipeline::readyWait),
            new Step("domains", CreatePipeline::domains));

    private static final Duration SETUP_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration APT_CHECK_TIMEOUT = Duration.ofMinutes(1);
    private static final Duration APT_TIMEOUT = Duration.ofMinutes(15);

    private final Transitions t;
    private final SandboxDriver driver;
    private final WakeOperation wake;
    private final DataPlane data;
    private final DeleteOperation delete;
    private volatile RepoCloner repos = RepoCloner.NONE;
    private volatile DomainAttacher domains = DomainAttacher.NONE;

    CreatePipeline(Transitions t, WakeOperation wake, DataPlane data, DeleteOperation delete) {
        this.t = t;
        this.driver = t.driver();
        this.wake = wake;
        this.data = data;
        this.delete = delete;
    }

    void setRepoCloner(RepoCloner cloner) {
        this.repos = Objects.requireNonNull(cloner, "cloner");
    }

    void setDomainAttacher(DomainAttacher attacher) {
        this.domains = Objects.requireNonNull(attacher, "attacher");
    }

    /** Runs the host steps; the clones are deleted from the host afterwards, whatever happened. */
    void runHostSteps(Context c) {
        try {
            for (Step s : HOST_STEPS) s.run().run(this, c);
        } finally {
            if (c.clones != null) c.clones.close();
        }
    }

    void runRunningSteps(Context c) {
        for (Step s : RUNNING_STEPS) s.run().run(this, c);
    }

    // ---- host steps ----

    /** The disk, network namespace and container, running. */
    private void driverCreate(Context c) {
        VmSpec spec = c.spec;
        c.handle = driver.create(new SandboxSpec(c.id(), c.driverImageRef, spec.vcpuCount(), spec.memSizeMb(),
                t.settings().pidsLimit(), spec.env(), spec.workdir(), c.id(), spec.rootfsSizeMb(), spec.snapshotId(),
                spec.network()));
        Failpoints.hit("create.after-driver");
    }

    /** Repositories cloned through the VM's own network, so only once it exists (and under its egress policy). */
    private void clones(Context c) {
        if (c.command.repos().isEmpty()) return;
        c.clones = repos.cloneAll(c.command.repos(), t.processes().networkNamespace(c.id()));
    }

    private void files(Context c) {
        for (var f : c.command.files().entrySet()) {
            t.files().writeFile(c.id(), f.getKey(), f.getValue().content(), f.getValue().executable());
        }
    }

    /** The request's trees, then the clones: after the files, so a repository wins over a file at its path. */
    private void trees(Context c) {
        List<CreateVmCommand.TreeCopy> all = new ArrayList<>(c.command.trees());
        if (c.clones != null) all.addAll(c.clones.trees());
        for (var tree : all) t.files().copyIn(c.id(), tree.source(), tree.path());
    }

    /** Users and groups: the setup scripts, as root. */
    private void accounts(Context c) {
        for (String script : c.command.setup()) {
            ExecResult r = t.processes().exec(c.id(), ExecRequest.of(script, SETUP_TIMEOUT));
            if (r.exitCode() != 0 || r.timedOut()) {
                String out = (r.stderr() + r.stdout()).strip();
                throw BurrowException.of(ErrorCode.CREATE_VM_SETUP_FAILED, "setting up VM " + c.id() + " failed"
                        + (r.timedOut() ? " (timed out)" : "") + ": " + (out.length() > 1000 ? out.substring(0, 1000) : out));
            }
        }
    }

    /**
     * {@code aptDeps}: apt installs the packages inside the VM, as root and through the VM's own network (so its
     * egress policy applies to the mirrors too). An image without apt-get, or a failed install, fails the create (400).
     */
    private void packages(Context c) {
        List<String> deps = c.command.packages();
        if (deps.isEmpty()) return;
        String check = "command -v apt-get >/dev/null 2>&1 || { echo 'no apt-get in this image' >&2; exit 127; }";
        runStep(c, check, APT_CHECK_TIMEOUT, "APT_UNAVAILABLE",
                "aptDeps needs an image with apt-get (Debian or Ubuntu); this VM's image has none");
        String log = "/var/tmp/.burrow-apt-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".log";
        String install = "export DEBIAN_FRONTEND=noninteractive; { apt-get update && apt-get install -y --no-install-recommends -- "
                + String.join(" ", deps) + "; } >" + log + " 2>&1; rc=$?; tail -c 4000 " + log + "; rm -f " + log + "; exit $rc";
        runStep(c, install, APT_TIMEOUT, "APT_INSTALL_FAILED",
                "installing aptDeps (" + String.join(" ", deps) + ") in the VM failed");
    }

    private void runStep(Context c, String script, Duration timeout, String errorCode, String failure) {
        ExecResult r = t.processes().exec(c.id(), ExecRequest.of(script, timeout));
        if (r.exitCode() != 0 || r.timedOut()) {
            String out = (r.stdout() + r.stderr()).strip();
            throw BurrowException.badRequest(errorCode, failure
                    + (r.timedOut() ? " (timed out after " + timeout.toSeconds() + " s)" : " (exit " + r.exitCode() + ")")
                    + ": " + (out.length() > 2000 ? "…" + out.substring(out.length() - 2000) : out));
        }
    }

    /** The boot hook (services started at boot), after the files: services may run scripts the request brought. */
    private void services(Context c) {
        c.vm = c.vm.withHandle(c.handle);
        wake.boot(c.vm);
    }

    // ---- steps once the VM runs ----

    /**
     * Freestyle's ready signal is "the serial console is ready for login". A create already returns only once the
     * VM's init runs and its files, repositories, accounts and services are in place; with a ready wait the VM must
     * also run a fresh process (what a login would) within it, or the create fails and the VM is deleted.
     */
    private void readyWait(Context c) {
        if (c.command.readyWait() == null) return;
        long seconds = c.command.readyWait().toSeconds();
        String why;
        try {
            ExecResult r = data.exec(c.id(), ExecRequest.of("true", c.command.readyWait()), c.cause);
            if (r.exitCode() == 0 && !r.timedOut()) return;
            why = r.timedOut() ? "no process ran within " + seconds + " s" : "a process in it exited " + r.exitCode();
        } catch (BurrowException e) {
            why = e.getMessage();
        }
        try {
            delete.delete(c.id(), c.cause);
        } catch (RuntimeException e) {
            // the reconciler and the user can still delete it; the answer below says what happened
        }
        throw new BurrowException(ErrorCode.VM_NOT_READY, "VM " + c.id() + " did not become ready (" + why + "); it was deleted");
    }

    /** The VM's custom domains; when another request took one since the check, the create fails whole. */
    private void domains(Context c) {
        if (c.command.domains().isEmpty()) return;
        try {
            domains.attach(c.id(), c.command.domains());
        } catch (BurrowException e) {
            try {
                delete.delete(c.id(), c.cause);
            } catch (RuntimeException d) {
                e.addSuppressed(d);
            }
            throw e;
        }
    }
}
