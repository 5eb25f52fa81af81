package dev.burrow.core.lifecycle;

import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Told about every status the coordinator writes, after the write committed: metrics, event streams and
 * logs subscribe here instead of touching the lifecycle. Must be fast and must not throw (a throwing
 * listener is logged and ignored).
 *
 * @param durationMs how long the driver call took; null for an intent
 * @param reason     why the status was set (a failure message), or null
 */
@FunctionalInterface
public interface TransitionListener {
    TransitionListener NONE = (vm, from, op, cause, durationMs, reason) -> { };

    void transitioned(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason);

    /**
     * A create that failed before its VM existed (the image could not be pulled or unpacked), so no
     * transition reports it. Client mistakes (a malformed or unknown reference) are not reported.
     */
    default void createRejected(dev.burrow.core.vm.VmSpec spec, String cause, String reason) { }
}
