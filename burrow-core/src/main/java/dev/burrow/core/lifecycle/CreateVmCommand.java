package dev.burrow.core.lifecycle;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.vm.VmSpec;

/**
 * A create request as core takes it: the API layer merged the wire request with its template once, validated it and
 * mapped it to this record; nothing goes back to the API layer while the VM is made. The pipeline that runs it is
 * {@link CreatePipeline}.
 *
 * @param files     absolute path inside the VM → file to write before the VM is reported running
 * @param trees     host directories copied into the VM after the files
 * @param repos     repositories cloned on the host through the VM's own network (so under its egress policy) once
 *                  the VM exists, then copied in with the trees ({@link RepoCloner})
 * @param setup     shell scripts run in the VM as root after that, before services start (users and groups); one that
 *                  exits non-zero fails the create with its output
 * @param packages  Debian packages apt installs in the VM after the setup scripts, before services start
 * @param readyWait with a value, the VM must run a fresh process within it once running, or the create fails and the
 *                  VM is deleted; null for no wait
 * @param domains   custom domains mapped to the VM once it runs ({@link DomainAttacher}); checked by the API layer
 *                  before the VM exists
 */
public record CreateVmCommand(VmSpec spec, Map<String, InitialFile> files, List<TreeCopy> trees, List<Repo> repos,
                              List<String> setup, List<String> packages, Duration readyWait, List<Domain> domains) {
    public record InitialFile(byte[] content, boolean executable) { }

    /** A host directory copied to {@code path} in the VM at create. */
    public record TreeCopy(Path source, String path) { }

    /** A repository to clone at {@code rev} (null: its default branch) into {@code path} in the VM. */
    public record Repo(String url, String path, String rev) { }

    /** A custom domain routed to {@code vmPort} of the VM. */
    public record Domain(String domain, int vmPort) { }

    /** Most packages one create installs. */
    public static final int MAX_PACKAGES = 200;
    /** A Debian package name (policy 5.6.1), optionally {@code =version} (5.6.12: [epoch:]upstream[-revision]). */
    private static final Pattern PACKAGE = Pattern.compile(
            "[a-z0-9][a-z0-9+.-]{1,99}(:[a-z0-9-]{1,32})?(=([0-9]{1,9}:)?[A-Za-z0-9][A-Za-z0-9.+~-]{0,99}(:[A-Za-z0-9.+~-]{1,99})*)?");

    /** Normalises the lists; package names are checked here, so nothing but package names reaches a command line. */
    public CreateVmCommand {
        files = files == null ? Map.of() : Map.copyOf(files);
        trees = trees == null ? List.of() : List.copyOf(trees);
        repos = repos == null ? List.of() : List.copyOf(repos);
        setup = setup == null ? List.of() : List.copyOf(setup);
        packages = checkPackages(packages);
        domains = domains == null ? List.of() : List.copyOf(domains);
    }

    /** A VM with these files and nothing else to set up (forks, template and Dockerfile build VMs, tests). */
    public CreateVmCommand(VmSpec spec, Map<String, InitialFile> files) {
        this(spec, files, List.of(), List.of(), List.of(), List.of(), null, List.of());
    }

    /** The same request with these custom domains. */
    public CreateVmCommand withDomains(List<Domain> newDomains) {
        return new CreateVmCommand(spec, files, trees, repos, setup, packages, readyWait, newDomains);
    }

    /** The same request made from a snapshot (a Dockerfile built for it). */
    public CreateVmCommand withSnapshot(String snapshotId) {
        var s = spec;
        return new CreateVmCommand(new VmSpec(s.image(), s.vcpuCount(), s.memSizeMb(), s.env(), s.workdir(),
                s.idleTimeoutSeconds(), s.persistence(), s.labels(), s.rootfsSizeMb(), snapshotId, s.services(), s.network(),
                s.ports()), files, trees, repos, setup, packages, readyWait, domains);
    }

    private static List<String> checkPackages(List<String> deps) {
        if (deps == null || deps.isEmpty()) return List.of();
        if (deps.size() > MAX_PACKAGES) throw bad("at most " + MAX_PACKAGES + " aptDeps, got " + deps.size());
        for (int i = 0; i < deps.size(); i++) {
            String d = deps.get(i);
            if (d == null || !PACKAGE.matcher(d).matches()) {
                throw bad("aptDeps[" + i + "] must be a Debian package name (lowercase letters, digits, '+', '-', '.';"
                        + " at least two characters, starting with a letter or digit), optionally ':arch' and '=version', got '"
                        + (d == null ? "null" : d.length() > 100 ? d.substring(0, 100) + "…" : d) + "'");
            }
        }
        return List.copyOf(deps);
    }

    private static BurrowException bad(String message) {
        return BurrowException.of(ErrorCode.CREATE_VM_BAD_REQUEST, message);
    }
}
