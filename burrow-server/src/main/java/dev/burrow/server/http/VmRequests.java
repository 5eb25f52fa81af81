package dev.burrow.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import io.javalin.http.Context;

/**
 * What the VM routes share on the way in: the VM id of the path, JSON bodies read into wire records (a mistake is a
 * 400 naming the field), the start timers' ranges, and the user a command runs as when the request names none.
 */
public final class VmRequests {
    private VmRequests() { }

    /** Largest disk quota accepted (1 TiB): beyond it a typo, not a plan. */
    static final int MAX_ROOTFS_MB = 1024 * 1024;

    static String vmId(Context ctx) {
        return ctx.pathParam("vm_id");
    }

    static <T> T requiredBody(Context ctx, Class<T> type) {
        T value = optionalBody(ctx, type);
        if (value == null) throw ApiException.badRequest("a JSON request body is required");
        return value;
    }

    static <T> T optionalBody(Context ctx, Class<T> type) {
        byte[] body = ctx.bodyAsBytes();
        if (body.length == 0) return null;
        try {
            return Json.MAPPER.readValue(body, type);
        } catch (MismatchedInputException e) {
            throw ApiException.badRequest("invalid value for '" + fieldOf(e) + "': " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("malformed JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiException.badRequest("unreadable request body: " + e.getMessage());
        }
    }

    /** The timers a create and a start may carry, each refused through {@code bad} when out of range. */
    static void checkStartFields(Integer idleTimeoutSeconds, Integer readySignalTimeoutSeconds, Long activityThresholdBytes,
                                 java.util.function.Function<String, BurrowException> bad) {
        if (readySignalTimeoutSeconds != null && (readySignalTimeoutSeconds < 1 || readySignalTimeoutSeconds > 3600)) {
            throw bad.apply("'readySignalTimeoutSeconds' must be between 1 and 3600");
        }
        if (idleTimeoutSeconds != null && idleTimeoutSeconds < 0) throw bad.apply("'idleTimeoutSeconds' must not be negative");
        if (activityThresholdBytes != null && activityThresholdBytes < 0) {
            throw bad.apply("'activityThresholdBytes' must not be negative");
        }
    }

    /** {@code s} for an error message: control characters shown as {@code \\uXXXX}, cut at 80 characters. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(80).forEach(c -> {
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", c)); else b.appendCodePoint(c);
        });
        return s.codePointCount(0, s.length()) > 80 ? b + "…" : b.toString();
    }

    /** The JSON path of the field a mismatch is about ({@code users.[0].uid}), or "body". */
    static String fieldOf(MismatchedInputException e) {
        return e.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .reduce((a, b) -> a + "." + b).orElse("body");
    }

    /**
     * The user commands of a VM run as when the request names none: the default user of the snapshot the VM was
     * made from (a Dockerfile's USER), else root.
     */
    public static String defaultUser(LifecycleCoordinator lifecycle, String vmId) {
        String sid = lifecycle.get(vmId).spec().snapshotId();
        if (sid == null) return null;
        try {
            return lifecycle.findSnapshot(sid).user();
        } catch (BurrowException e) {
            return null;
        }
    }
}
