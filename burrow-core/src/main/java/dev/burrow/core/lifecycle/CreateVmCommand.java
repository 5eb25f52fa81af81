package dev.burrow.core.lifecycle;

import java.util.List;
import java.util.Map;

import dev.burrow.core.vm.VmSpec;

/**
 * A validated create request.
 *
 * @param files absolute path inside the VM → file to write before the VM is reported running
 * @param trees host directories copied into the VM after the files (repositories cloned for the request)
 * @param setup shell scripts run in the VM after that, before services start (users and groups); one that
 *              exits non-zero fails the create with its output
 * @param fetch host work done once the VM (and so its network namespace) exists, before its files are written:
 *              it makes more trees to copy in (repositories cloned through the VM's own network); null for none
 * @param steps commands run in the VM after the setup scripts, before services start (package installs), each
 *              with its own time limit and error
 */
public record CreateVmCommand(VmSpec spec, Map<String, InitialFile> files, List<TreeCopy> trees, List<String> setup,
                              TreeFetch fetch, List<SetupStep> steps) {
    public record InitialFile(byte[] content, boolean executable) { }

    /** A host directory (a git checkout the API layer made) copied to {@code path} in the VM at create. */
    public record TreeCopy(java.nio.file.Path source, String path) { }

    /** Makes host trees for a VM that exists, through its network namespace (null when the driver has none). */
    @FunctionalInterface
    public interface TreeFetch {
        List<TreeCopy> fetch(String vmId, dev.burrow.core.driver.SandboxNetns netns);
    }

    /**
     * A command run in the VM as root at create; a non-zero exit or a timeout fails the create with
     * {@code errorCode} (a 400), {@code failure}, and the tail of the command's output.
     */
    public record SetupStep(String script, java.time.Duration timeout, String errorCode, String failure) { }

    public CreateVmCommand {
        files = files == null ? Map.of() : Map.copyOf(files);
        trees = trees == null ? List.of() : List.copyOf(trees);
        setup = setup == null ? List.of() : List.copyOf(setup);
        steps = steps == null ? List.of() : List.copyOf(steps);
    }

    public CreateVmCommand(VmSpec spec, Map<String, InitialFile> files, List<TreeCopy> trees, List<String> setup) {
        this(spec, files, trees, setup, null, List.of());
    }

    public CreateVmCommand(VmSpec spec, Map<String, InitialFile> files, List<TreeCopy> trees) {
        this(spec, files, trees, List.of());
    }

    public CreateVmCommand(VmSpec spec, Map<String, InitialFile> files) {
        this(spec, files, List.of(), List.of());
    }
}
