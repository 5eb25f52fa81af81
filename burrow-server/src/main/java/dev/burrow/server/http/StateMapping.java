package dev.burrow.server.http;

import dev.burrow.core.vm.VmStatus;

/**
 * Burrow's lifecycle statuses seen through the Freestyle API, whose {@code state} knows only starting,
 * running, suspending, suspended and stopped. A drift test checks every status has a mapping.
 */
public final class StateMapping {
    private StateMapping() { }

    public static String freestyleState(VmStatus status) {
        return switch (status) {
            case PULLING, CREATING, STARTING, RESUMING -> "starting";
            case RUNNING -> "running";
            case SUSPENDING -> "suspending";
            // a hibernated VM is, to the user, a suspended one that resumes on access (a cold start)
            case SUSPENDED, HIBERNATING, HIBERNATED -> "suspended";
            case STOPPING, STOPPED, FAILED, DELETING, DELETED -> "stopped";
        };
    }
}
