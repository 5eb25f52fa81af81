package dev.burrow.core.error;

/**
 * Base of every failure Burrow reports on purpose. The {@link #code()} is the SCREAMING_SNAKE error
 * name the API puts in its {@code {error, code, message, description}} body; {@link #status()} is the HTTP status
 * (from the {@link ErrorCode} registry, also for a code given by name).
 */
public class BurrowException extends RuntimeException {
    public enum Kind {
        BAD_REQUEST(400), UNAUTHORIZED(401), FORBIDDEN(403), NOT_FOUND(404), CONFLICT(409), TOO_LARGE(413),
        TOO_MANY_REQUESTS(429), INTERNAL(500), BAD_GATEWAY(502), UNAVAILABLE(503);

        public final int status;

        Kind(int status) {
            this.status = status;
        }

        /** The kind of a status: the exact one when there is, else the class (4xx → BAD_REQUEST, 5xx → INTERNAL). */
        public static Kind of(int status) {
            for (Kind k : values()) {
                if (k.status == status) return k;
            }
            return status >= 500 ? INTERNAL : BAD_REQUEST;
        }
    }

    private final Kind kind;
    private final String code;
    private final int status;

    public BurrowException(Kind kind, String code, String message) {
        this(kind, code, message, null);
    }

    /**
     * A code given by name: it is answered with the status the {@link ErrorCode} registry gives it (the kind's status
     * when the registry allows that one too, as for {@link ErrorCode#CAPACITY}); {@code kind} matters only for a code
     * the registry lacks, which a test keeps from happening.
     */
    public BurrowException(Kind kind, String code, String message, Throwable cause) {
        super(message, cause);
        int status = ErrorCode.find(code).map(c -> c.statuses().contains(kind.status) ? kind.status : c.status)
                .orElse(kind.status);
        this.kind = Kind.of(status);
        this.code = code;
        this.status = status;
    }

    public BurrowException(ErrorCode code, String message) {
        this(code, message, null);
    }

    public BurrowException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.kind = Kind.of(code.status);
        this.code = code.name();
        this.status = code.status;
    }

    public Kind kind() { return kind; }

    public String code() { return code; }

    /** The HTTP status the API answers with. */
    public int status() { return status; }

    /**
     * What a client may read about {@code e} (a VM's status reason, a pull's error): its message when Burrow raised it
     * for the client, a generic sentence for a failure of the host (a {@link Kind#INTERNAL} one such as a driver
     * error, or anything unexpected), whose message may hold host paths or command lines — the log has those.
     */
    public static String clientMessage(Throwable e) {
        if (e instanceof BurrowException b && b.kind != Kind.INTERNAL) return b.getMessage();
        return "a host operation failed (the server log has the details)";
    }

    public static BurrowException of(ErrorCode code, String message) {
        return new BurrowException(code, message);
    }

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
