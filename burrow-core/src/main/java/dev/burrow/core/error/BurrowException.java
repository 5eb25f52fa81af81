package dev.burrow.core.error;

/**
 * Base of every failure Burrow reports on purpose. The {@link #code()} is the SCREAMING_SNAKE error
 * name the API puts in its {@code {error, message}} body; {@link #kind()} picks the HTTP status class.
 */
public class BurrowException extends RuntimeException {
    public enum Kind { BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, CONFLICT, TOO_LARGE, UNAVAILABLE, INTERNAL }

    private final Kind kind;
    private final String code;

    public BurrowException(Kind kind, String code, String message) {
        this(kind, code, message, null);
    }

    public BurrowException(Kind kind, String code, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.code = code;
    }

    public Kind kind() { return kind; }

    public String code() { return code; }

    public static BurrowException badRequest(String code, String message) {
        return new BurrowException(Kind.BAD_REQUEST, code, message);
    }

    public static BurrowException notFound(String code, String message) {
        return new BurrowException(Kind.NOT_FOUND, code, message);
    }

    public static BurrowException conflict(String code, String message) {
        return new BurrowException(Kind.CONFLICT, code, message);
    }
}
