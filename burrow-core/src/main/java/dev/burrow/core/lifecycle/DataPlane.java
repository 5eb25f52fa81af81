package dev.burrow.core.lifecycle;

import java.io.InputStream;
import java.nio.channels.SocketChannel;
import java.util.Objects;

import dev.burrow.core.admission.ExecSlots;
import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.ExecResult;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.driver.NetworkInfo;
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.driver.ProcessSpec;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.driver.SandboxProcess;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.store.VmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * The data plane: exec, spawned processes, port connections and files, and the activity they count as. Each wakes
 * the VM (under its lock, only while the state is checked) and then works without the lock, so a long command or a
 * slow download never blocks stop or delete.
 */
final class DataPlane {
    private final Transitions t;
    private final WakeOperation wake;
    private final SandboxDriver driver;
    private final VmStore store;
    /** Concurrent execs and spawned processes per VM and per node; unlimited until {@link #setExecSlots}. */
    private volatile ExecSlots execSlots = ExecSlots.unlimited();

    DataPlane(Transitions t, WakeOperation wake) {
        this.t = t;
        this.wake = wake;
        this.driver = t.driver();
        this.store = t.store();
    }

    ExecSlots execSlots() {
        return execSlots;
    }

    void setExecSlots(ExecSlots slots) {
        this.execSlots = Objects.requireNonNull(slots, "slots");
    }

    ExecResult exec(String id, ExecRequest request, String cause) {
        try (var held = t.lock(id, "exec")) {
            Vm vm = wake.wake(t.get(id), cause);
            if (vm.status() != VmStatus.RUNNING) {
                throw new BurrowException(ErrorCode.VM_NOT_RUNNING, "VM is not running: " + id + " (status " + vm.status().dbName() + ")");
            }
        }
        store.touch(id, t.clock().instant());
        try (var slot = execSlots.acquire(id)) {
            return t.processes().exec(id, request);
        }
    }

    /** Burrow's own bookkeeping: only in a running VM, without waking it and without counting as activity. */
    ExecResult execInternal(String id, ExecRequest request) {
        try (var held = t.lock(id, "exec")) {
            Vm vm = t.get(id);
            if (vm.status() != VmStatus.RUNNING) {
                throw new BurrowException(ErrorCode.VM_NOT_RUNNING, "VM is not running: " + id + " (status " + vm.status().dbName() + ")");
            }
        }
        return t.processes().exec(id, request);
    }

    SandboxProcess spawn(String id, ProcessSpec spec, String cause) {
        try (var held = t.lock(id, "spawn")) {
            requireRunning(wake.wake(t.get(id), cause));
        }
        var slot = execSlots.acquire(id);
        try {
            store.touch(id, t.clock().instant());
            return new SlotHeldProcess(t.processes().spawn(id, spec), slot);
        } catch (RuntimeException | Error e) {
            slot.close();
            throw e;
        }
    }

    SocketChannel connect(String id, int port, String cause) {
        try (var held = t.lock(id, "connect")) {
            requireRunning(wake.wake(t.get(id), cause));
        }
        store.touch(id, t.clock().instant());
        return t.processes().connect(id, port);
    }

    FileContent readFile(String id, String path, long maxBytes) {
        try (var held = t.lock(id, "read file")) {
            requireDisk(wake.wake(t.get(id), "access"), "read a file");
            store.touch(id, t.clock().instant());
            return t.files().read(id, path, maxBytes);
        }
    }

    void writeFile(String id, String path, byte[] content, boolean executable) {
        try (var held = t.lock(id, "write file")) {
            requireDisk(wake.wake(t.get(id), "access"), "write a file");
            store.touch(id, t.clock().instant());
            t.files().writeFile(id, path, content, executable);
        }
    }

    OpenFile openFile(String id, String path, long maxBytes) {
        try (var held = t.lock(id, "read file")) {
            requireDisk(wake.wake(t.get(id), "access"), "read a file");
        }
        store.touch(id, t.clock().instant());
        return t.files().openFile(id, path, maxBytes);
    }

    void writeFile(String id, String path, InputStream content, boolean executable) {
        try (var held = t.lock(id, "write file")) {
            requireDisk(wake.wake(t.get(id), "access"), "write a file");
        }
        store.touch(id, t.clock().instant());
        t.files().writeFile(id, path, content, executable);
    }

    /** Activity on an open interactive session: wakes the VM if the idle machinery suspended it meanwhile. */
    Vm activity(String id, String cause) {
        Vm vm;
        try (var held = t.lock(id, "activity")) {
            vm = wake.wake(t.get(id), cause);
        }
        store.touch(id, t.clock().instant());
        return vm;
    }

    /** Traffic through Burrow: sets the VM's last network activity and wakes it like {@link #activity}. */
    Vm networkActivity(String id, String cause) {
        Vm vm;
        try (var held = t.lock(id, "activity")) {
            vm = wake.wake(t.get(id), cause);
        }
        store.touchNetwork(id, t.clock().instant());
        return vm;
    }

    /** Explicit activity signal (keeps an idle timeout from firing). */
    Vm ping(String id) {
        Vm vm = t.get(id);
        store.touch(id, t.clock().instant());
        return vm;
    }

    NetworkInfo networkInfo(String id) {
        t.get(id);
        return driver.network().map(n -> n.networkInfo(id)).orElse(null);
    }

    private static void requireRunning(Vm vm) {
        if (vm.status() != VmStatus.RUNNING) {
            throw new BurrowException(ErrorCode.VM_NOT_RUNNING, "VM is not running: " + vm.id() + " (status " + vm.status().dbName() + ")");
        }
    }

    private static void requireDisk(Vm vm, String what) {
        switch (vm.status()) {
            case RUNNING, SUSPENDED, STOPPED, HIBERNATED -> { }
            default -> throw new BurrowException(ErrorCode.VM_OPERATION_DENIED_DURING_TRANSACTION, "cannot " + what + " on VM " + vm.id() + " while it is " + vm.status().dbName());
        }
    }
}
