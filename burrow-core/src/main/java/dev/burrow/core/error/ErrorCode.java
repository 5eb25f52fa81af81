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
 * <p>Every code the server answers is here, with its status; a test checks each code thrown anywhere in the sources is,
 * and that {@code /openapi.json} documents them. A code given as a string ({@link BurrowException#BurrowException(
 * BurrowException.Kind, String, String)}) is answered with the status registered here, whatever the kind said.
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
    /** {@code GET /v1/events} without {@code Accept: text/event-stream}. */
    NOT_ACCEPTABLE(400, false),
    /** A field Burrow knows but this server cannot honour (refused rather than silently ignored). */
    UNSUPPORTED_FIELD(400, false),
    /** An {@code Idempotency-Key} sent again with a different request body. */
    IDEMPOTENCY_KEY_REUSED(409, false),

    // VMs: create, lifecycle, resize
    VM_NOT_FOUND(404, true),
    INVALID_VM_ID(400, true),
    CREATE_VM_BAD_REQUEST(400, true),
    /** A create step inside the new VM (files, accounts, setup) failed; the VM was rolled back. */
    CREATE_VM_SETUP_FAILED(400, false),
    /** {@code aptDeps} on an image without apt-get. */
    APT_UNAVAILABLE(400, false),
    APT_INSTALL_FAILED(400, false),
    /** {@code waitForReadySignal}: the VM ran no process within the timeout; it was deleted. */
    VM_NOT_READY(503, false),
    /** The operation needs a running VM (the vendor SDK's code and status). */
    VM_NOT_RUNNING(400, true),
    INVALID_STATE_TRANSITION(409, false),
    VM_OPERATION_DENIED_DURING_TRANSACTION(409, true),
    RESIZE_VM_BAD_REQUEST(400, false),
    FORK_VM_BAD_REQUEST(400, false),
    INVALID_RESOURCES(400, false),
    INVALID_ROOTFS_SIZE(400, false),
    INVALID_ENV(400, false),
    INVALID_HOSTNAME(400, false),
    INVALID_WORKDIR(400, false),
    /** The VM's disk (its quota, or the host filesystem under it) has no room for the write. */
    DISK_FULL(409, false),
    ALREADY_EXISTS(409, false),

    // snapshots and template builds
    SNAPSHOT_NOT_FOUND(404, true),
    INVALID_SNAPSHOT_ID(400, true),
    CREATE_SNAPSHOT_BAD_REQUEST(400, true),
    /** An update of a snapshot's name or persistence that is malformed. */
    UPDATE_SNAPSHOT_BAD_REQUEST(400, false),
    SNAPSHOT_EXISTS(409, false),
    SNAPSHOT_IN_USE(409, false),
    SNAPSHOT_FAILED(400, false),
    SNAPSHOT_BUILD_FAILED(400, false),
    DOCKERFILE_BAD_REQUEST(400, false),

    // files
    FILES_BAD_REQUEST(400, true),
    FILE_NOT_FOUND(404, true),
    FILE_TOO_LARGE(413, false),
    FILE_CHANGED_DURING_WRITE(409, false),
    FILE_TRANSFER_ABORTED(409, false),

    // users, processes, terminals
    /** A {@code users[]} entry whose home is not an absolute, normalized path. */
    USER_HOME_INVALID(400, true),
    /** The user a command should run as is not in the VM's passwd (the vendor SDK's code and status). */
    USER_NOT_FOUND(404, true),
    INVALID_USER(400, false),
    INVALID_LINUX_USER(400, false),
    INVALID_COMMAND(400, false),
    PROCESS_NOT_FOUND(404, false),
    PROCESS_NOT_RUNNING(409, false),
    TOO_MANY_PROCESSES(409, false),
    STDIN_CLOSED(409, false),
    TERMINAL_NOT_FOUND(404, false),
    INVALID_TERMINAL_NAME(400, false),
    NOT_A_TERMINAL(400, false),

    // services
    SERVICE_NOT_FOUND(404, true),
    SERVICE_ALREADY_EXISTS(409, true),
    /** A service name with characters a file name cannot hold ('/' or NUL). */
    SERVICE_NAME_INVALID_CHARS(400, true),
    SERVICE_BAD_REQUEST(400, false),
    SERVICE_START_FAILED(409, false),
    SERVICE_COMMAND_FAILED(409, false),
    SERVICE_NOTIFY_UNAVAILABLE(409, false),
    SERVICES_NOT_STARTED(400, false),

    // identities, tokens, SSH keys
    IDENTITY_NOT_FOUND(404, true),
    VM_PERMISSION_NOT_FOUND(404, true),
    TOKEN_NOT_FOUND(404, false),
    INVALID_EXPIRY(400, false),
    SSH_KEY_NOT_FOUND(404, false),
    SSH_KEY_IN_USE(409, false),
    INVALID_PUBLIC_KEY(400, false),

    // networking, ports, domains, repositories
    INVALID_NETWORK_POLICY(400, false),
    NETWORKING_DISABLED(400, false),
    VM_HAS_NO_NETWORK(409, false),
    INVALID_PORT(400, false),
    INVALID_PORTS(400, false),
    PORT_NOT_OPEN(409, false),
    INVALID_DOMAIN(400, true),
    INVALID_DOMAIN_MAPPING(400, false),
    DOMAIN_NOT_ALLOWED(400, false),
    DOMAIN_ALREADY_MAPPED(409, false),
    DOMAIN_MAPPING_NOT_FOUND(404, false),
    GIT_CLONE_FAILED(400, false),
    /** No git on the host: the server cannot clone {@code gitRepos}. */
    GIT_UNAVAILABLE(503, false),

    // images
    INVALID_IMAGE(400, false),
    INVALID_IMAGE_DIGEST(400, false),
    PULL_IMAGE_BAD_REQUEST(400, false),
    /** The registry (or OCI layout) answered, and has no such image or repository. */
    IMAGE_NOT_FOUND(404, false),
    /**
     * The registry refused the repository: it needs credentials the server lacks (the operator's auth file), or it
     * does not exist (Docker Hub answers both alike). Counted as a failed create, unlike a plain not-found.
     */
    IMAGE_ACCESS_DENIED(403, false),
    IMAGE_IN_USE(409, false),
    IMAGE_PULL_INTERRUPTED(503, false),
    VM_DELETED_DURING_PULL(409, false),
    /** The registry could not be reached or failed: a gateway error, the reference may be fine. */
    REGISTRY_UNAVAILABLE(502, false),

    // limits and the host
    /**
     * A limit of this node: 503 when the node is full (VMs, cpu, memory), 429 for a momentary limit (concurrent
     * execs); both with {@code Retry-After}. The one code answered with two statuses.
     */
    CAPACITY(503, false, 429),
    SERVER_BUSY(503, false),
    /** {@code /readyz}: the store or the driver is not usable. */
    NOT_READY(503, false),
    STORE_UNAVAILABLE(503, false),
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
    /** Statuses this code may also be answered with (only {@link #CAPACITY}: 429 for a momentary limit). */
    private final int[] otherStatuses;

    ErrorCode(int status, boolean sdk, int... otherStatuses) {
        this.status = status;
        this.sdk = sdk;
        this.otherStatuses = otherStatuses;
    }

    /** Every status this code is answered with: {@link #status} first. */
    public java.util.List<Integer> statuses() {
        var out = new java.util.ArrayList<Integer>();
        out.add(status);
        for (int s : otherStatuses) out.add(s);
        return out;
    }

    /** The registered code of this name, if there is one. */
    public static java.util.Optional<ErrorCode> find(String name) {
        try {
            return java.util.Optional.of(valueOf(name));
        } catch (IllegalArgumentException | NullPointerException e) {
            return java.util.Optional.empty();
        }
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
