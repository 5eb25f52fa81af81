package dev.burrow.core.store;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/** The database could not be reached or refused the operation for a reason that is not the caller's. */
public class StoreUnavailableException extends BurrowException {
    public StoreUnavailableException(String message, Throwable cause) {
        super(ErrorCode.STORE_UNAVAILABLE, message, cause);
    }
}
