package dev.burrow.core.lifecycle;

import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.OptionalInt;

import dev.burrow.core.admission.ExecSlots;
import dev.burrow.core.driver.SandboxProcess;

/** A spawned process that holds its exec slot until it is closed (every owner closes its process when it ends). */
final class SlotHeldProcess implements SandboxProcess {
    private final SandboxProcess inner;
    private final ExecSlots.Slot slot;

    SlotHeldProcess(SandboxProcess inner, ExecSlots.Slot slot) {
        this.inner = inner;
        this.slot = slot;
    }

    @Override public OutputStream stdin() { return inner.stdin(); }

    @Override public InputStream stdout() { return inner.stdout(); }

    @Override public InputStream stderr() { return inner.stderr(); }

    @Override public void resize(int cols, int rows) { inner.resize(cols, rows); }

    @Override public void signal(int signal) { inner.signal(signal); }

    @Override public int waitFor() throws InterruptedException { return inner.waitFor(); }

    @Override public OptionalInt waitFor(Duration timeout) throws InterruptedException { return inner.waitFor(timeout); }

    @Override public boolean isAlive() { return inner.isAlive(); }

    @Override
    public void close() {
        try {
            inner.close();
        } finally {
            slot.close();
        }
    }
}
