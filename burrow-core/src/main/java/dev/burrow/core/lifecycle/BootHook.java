package dev.burrow.core.lifecycle;

import java.util.function.Function;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.vm.Vm;

/**
 * Work done inside a VM each time its processes (re)start, before the VM is reported running: after create (once
 * its files are written), after a start from stopped, failed or hibernated. Not after a resume: a thawed VM's
 * processes simply continue. {@code exec} runs a command in the VM through the coordinator's driver. A hook that
 * throws fails a create (the VM is rolled back); on a start it is logged and the VM runs anyway.
 */
@FunctionalInterface
public interface BootHook {
    BootHook NONE = (vm, exec) -> { };

    void booted(Vm vm, Function<ExecRequest, ExecResult> exec);
}
