package dev.burrow.core.vm;

import java.time.Instant;

/**
 * One status change (or attempt) of a VM, written in the same transaction as the status itself.
 *
 * @param cause      who asked: api, reconciler, idle, …
 * @param durationMs how long the driver call took, null for intents
 */
public record VmEvent(long id, String vmId, Instant at, VmStatus from, VmStatus to, String op, String cause,
                      String detail, Long durationMs) {

    public static VmEvent of(String vmId, Instant at, VmStatus from, VmStatus to, String op, String cause,
                             String detail, Long durationMs) {
        return new VmEvent(0, vmId, at, from, to, op, cause, detail, durationMs);
    }
}
