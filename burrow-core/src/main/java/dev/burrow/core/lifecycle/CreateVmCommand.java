package dev.burrow.core.lifecycle;

import java.util.Map;

import dev.burrow.core.vm.VmSpec;

/**
 * A validated create request.
 *
 * @param files absolute path inside the VM → file to write before the VM is reported running
 */
public record CreateVmCommand(VmSpec spec, Map<String, InitialFile> files) {
    public record InitialFile(byte[] content, boolean executable) { }

    public CreateVmCommand {
        files = files == null ? Map.of() : Map.copyOf(files);
    }
}
