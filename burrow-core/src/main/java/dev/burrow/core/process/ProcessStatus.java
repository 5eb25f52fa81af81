package dev.burrow.core.process;

import java.util.Locale;

/** Where a managed process is: still running, or how it ended. */
public enum ProcessStatus {
    RUNNING,
    /** Ended on its own (whatever its exit code, including after a signal it chose to handle). */
    EXITED,
    /** Ended by Burrow (kill/delete, its VM stopped) or by a signal sent through the API that it did not survive. */
    KILLED,
    /** Its explicit timeout expired and Burrow killed it. */
    TIMED_OUT;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
