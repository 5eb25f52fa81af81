package dev.burrow.core.error;

/**
 * Error codes with the HTTP status each is answered with: the one registry new and changed codes go into, instead of a
 * string literal and a {@link BurrowException.Kind} at every throw site.
 *
 * <p>Where the vendor SDK ({@code freestyle-sandboxes}, its {@code FREESTYLE_ERROR_CODE_MAP}) has a code for the same
 * failure, the constant carries the SDK's name and status, so the SDK raises its typed error (e.g.
 * {@code VmNotFoundError}); the other constants are Burrow's own, which the SDK reports as
 * {@code Unknown error code: <code> - <description>} (the error body's {@code description} is there for that).
 * {@link #sdk} says which is which; {@code FreestyleSdkCompatTest} checks both against the SDK's own map.
 *
 * <p>Codes not yet moved here are still thrown as literals through {@link BurrowException#badRequest} and friends;
 * both kinds reach the client in the same body.
 */
public enum ErrorCode {
    // request shape (HTTP layer)
    BAD_REQUEST(400, true),
    UNAUTHORIZED(401, true),
    FORBIDDEN(403, true),
    NOT_FOUND(404, true),
    METHOD_NOT_ALLOWED(405, false),
    PAYLOAD_TOO_LARGE(413, false),
    URI_TOO_LONG(414, false),
    UNSUPPORTED_MEDIA_TYPE(415, false),
    HEADERS_TOO_LARGE(431, false),

    // VMs and what runs in them
    VM_NOT_FOUND(404, true),
    INVALID_WORKDIR(400, false),
    /** The VM's disk (its quota, or the host filesystem under it) has no room for the write. */
    DISK_FULL(409, false),
    /** An update of a snapshot's name or persistence that is malformed. */
    UPDATE_SNAPSHOT_BAD_REQUEST(400, false),
    /** A {@code users[]} entry whose home is not an absolute, normalized path. */
    USER_HOME_INVALID(400, true),
    /** A service name with characters a file name cannot hold ('/' or NUL). */
    SERVICE_NAME_INVALID_CHARS(400, true),

    // images
    INVALID_IMAGE(400, false),
    /** The registry (or OCI layout) answered, and has no such image or repository. */
    IMAGE_NOT_FOUND(404, false),
    /**
     * The registry refused the repository: it needs credentials the server lacks (the operator's auth file), or it
     * does not exist (Docker Hub answers both alike). Counted as a failed create, unlike a plain not-found.
     */
    IMAGE_ACCESS_DENIED(403, false),
    /** The registry could not be reached or failed: a gateway error, the reference may be fine. */
    REGISTRY_UNAVAILABLE(502, false),

    // the host
    /** The node's driver lacks the capability the request needs (no such facet): this node cannot honour it. */
    UNSUPPORTED_OPERATION(400, false),
    /** A host tool or file operation failed; the client sees a reference, the server log has the detail. */
    DRIVER_ERROR(500, false),
    INTERNAL_ERROR(500, true),
    SERVICE_UNAVAILABLE(503, true);

    /** The HTTP status the API answers with. */
    public final int status;
    /** True when the vendor SDK knows this code (same name and status) and raises a typed error for it. */
    public final boolean sdk;

    ErrorCode(int status, boolean sdk) {
        this.status = status;
        this.sdk = sdk;
    }

    /** The generic code for a status the HTTP layer produces by itself (Jetty/Javalin errors). */
    public static ErrorCode forStatus(int status) {
        return switch (status) {
            case 400 -> BAD_REQUEST;
            case 401 -> UNAUTHORIZED;
            case 403 -> FORBIDDEN;
            case 404 -> NOT_FOUND;
            case 405 -> METHOD_NOT_ALLOWED;
            case 413 -> PAYLOAD_TOO_LARGE;
            case 414 -> URI_TOO_LONG;
            case 415 -> UNSUPPORTED_MEDIA_TYPE;
            case 431 -> HEADERS_TOO_LARGE;
            case 503 -> SERVICE_UNAVAILABLE;
            default -> status >= 500 ? INTERNAL_ERROR : BAD_REQUEST;
        };
    }
}
