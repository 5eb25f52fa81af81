package dev.burrow.server.http;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/** Request-shape errors raised by the HTTP layer itself (bad JSON, bad path, body too large). */
final class ApiException {
    private ApiException() { }

    static BurrowException badRequest(String message) {
        return BurrowException.of(ErrorCode.BAD_REQUEST, message);
    }

    static BurrowException badRequest(String code, String message) {
        return BurrowException.badRequest(code, message);
    }
}
