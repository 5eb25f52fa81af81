package dev.burrow.core.error;

/**
 * A limit of this node was reached (VM count, cpu, memory, concurrent processes): the request was refused before it
 * changed anything and may succeed later. The API sends {@code Retry-After} with {@link #retryAfterSeconds()}.
 */
public final class CapacityException extends BurrowException {
    public static final String CODE = "CAPACITY";

    private final int retryAfterSeconds;

    public CapacityException(Kind kind, String message, int retryAfterSeconds) {
        super(kind, CODE, message);
        this.retryAfterSeconds = Math.max(1, retryAfterSeconds);
    }

    /** A momentary limit (concurrent processes): 429, retry soon. */
    public static CapacityException busy(String message) {
        return new CapacityException(Kind.TOO_MANY_REQUESTS, message, 1);
    }

    /** The node is full (VMs, cpu, memory): 503 until VMs are stopped or deleted. */
    public static CapacityException full(String message) {
        return new CapacityException(Kind.UNAVAILABLE, message, 30);
    }

    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
