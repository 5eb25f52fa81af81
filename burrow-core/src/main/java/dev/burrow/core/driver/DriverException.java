package dev.burrow.core.driver;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/** A driver operation failed on the host (a runc, mount or image tool error). */
public class DriverException extends BurrowException {
    public DriverException(String message) {
        super(ErrorCode.DRIVER_ERROR, message);
    }

    public DriverException(String message, Throwable cause) {
        super(ErrorCode.DRIVER_ERROR, message, cause);
    }
}
