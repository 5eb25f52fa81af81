package dev.burrow.core.driver;

/** The host's view of one sandbox, independent of what the store believes. */
public enum SandboxState {
    /** Nothing of the sandbox exists on the host. */
    ABSENT,
    /** Disk exists, no process runs (stopped or never started). */
    STOPPED,
    RUNNING,
    /** Processes exist but are frozen. */
    PAUSED
}
