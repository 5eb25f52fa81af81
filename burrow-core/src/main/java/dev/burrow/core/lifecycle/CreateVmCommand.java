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
 */
public record CreateVmCommand(VmSpec spec, Map<String, InitialFile> files, List<TreeCopy> trees, List<String> setup) {
    public record InitialFile(byte[] content, boolean executable) { }

    /** A host directory (a git checkout the API layer made) copied to {@code path} in the VM at create. */
    public record TreeCopy(java.nio.file.Path source, String path) { }

    public CreateVmCommand {
        files = files == null ? Map.of() : Map.copyOf(files);
        trees = trees == null ? List.of() : List.copyOf(trees);
        setup = setup == null ? List.of() : List.copyOf(setup);
    }

    public CreateVmCommand(VmSpec spec, Map<String, InitialFile> files, List<TreeCopy> trees) {
        this(spec, files, trees, List.of());
    }

    public CreateVmCommand(VmSpec spec, Map<String, InitialFile> files) {
        this(spec, files, List.of(), List.of());
    }
}
