package dev.burrow.core.driver;

import dev.burrow.core.error.BurrowException;

/** A driver operation failed on the host (a runc, mount or image tool error). */
public class DriverException extends BurrowException {
    public DriverException(String message) {
        super(Kind.INTERNAL, "DRIVER_ERROR", message);
    }

    public DriverException(String message, Throwable cause) {
        super(Kind.INTERNAL, "DRIVER_ERROR", message, cause);
    }
}
