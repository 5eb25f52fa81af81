package dev.burrow.server.http;

import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.api.ErrorBody;
import dev.burrow.core.driver.DriverException;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.CapacityException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.store.StoreUnavailableException;
import io.javalin.http.Context;

/**
 * Writes every error body the API sends, and keeps the host out of it. A failure of the host itself (a
 * {@link DriverException}: a runc, mount or image tool error; the store; anything unexpected) reaches the client as
 * its code, the operation and a reference, while the server log keeps the full message (host paths, the tool's
 * command line and stderr) under that reference. Every other message is scrubbed of the server's own directories
 * (data, images, temp), in case a client-facing message quoted a host path through a wrapped cause.
 */
public final class ErrorResponses {
    private static final Logger log = LoggerFactory.getLogger(ErrorResponses.class);
    static final String HOST_PATH = "<host path>";

    private final List<Pattern> hostRoots;

    /** @param hostRoots the server's directories whose paths never leave it (data dir, image dir, …) */
    public ErrorResponses(List<Path> hostRoots) {
        this.hostRoots = hostRoots.stream().filter(Objects::nonNull).map(p -> p.toAbsolutePath().normalize().toString())
                .filter(s -> !s.equals("/")).distinct().sorted(Comparator.comparingInt(String::length).reversed())
                // the root and whatever path continues it, up to a character that ends a path in a sentence
                // (a path ends at a blank, a quote or punctuation; a sentence's final '.' is not part of it)
                .map(s -> Pattern.compile(Pattern.quote(s) + "(?=$|[/.\\s'\":;,)\\]])(?:[^\\s'\":;,)\\]]*[^\\s'\":;,)\\].])?"))
                .toList();
    }

    /** A failure Burrow raised on purpose; host failures are reduced to code, operation and reference. */
    void burrow(BurrowException e, Context ctx) {
        String vmId = null;
        try {
            vmId = ctx.pathParamMap().get("vm_id");
        } catch (RuntimeException ignored) {
            // no path params on this route
        }
        if (hostFailure(e)) {
            String ref = ref();
            log.error("{} {} failed ref={} code={}: {}", ctx.method(), ctx.path(), ref, e.code(), e.getMessage(), e.getCause());
            write(ctx, e.status(), e.code(), "the host could not complete " + ctx.method() + " " + route(ctx)
                    + " (ref " + ref + "; the server log has the details)", vmId);
            return;
        }
        if (e instanceof CapacityException c) {
            // a limit, not a failure: the client may retry, and is told when
            ctx.header("Retry-After", Integer.toString(c.retryAfterSeconds()));
        } else if (e.status() >= 500) {
            log.error("{} {} failed: {} {}", ctx.method(), ctx.path(), e.code(), e.getMessage(), e.getCause());
        }
        write(ctx, e.status(), e.code(), scrub(e.getMessage()), vmId);
    }

    /** Anything not raised on purpose: a bug. The client gets a reference to the log entry with the stack trace. */
    void unhandled(Exception e, Context ctx) {
        String ref = ref();
        log.error("unhandled error ref={} {} {}", ref, ctx.method(), ctx.path(), e);
        write(ctx, 500, ErrorCode.INTERNAL_ERROR.name(), "internal error (ref " + ref + "; see the server log)", null);
    }

    /** An error the HTTP layer produced for a status (Javalin's 404/405/413, a rejected upgrade). */
    void status(Context ctx, int status, String message) {
        write(ctx, status, ErrorCode.forStatus(status).name(), scrub(message), null);
    }

    /** {@code message} with every path under a host root replaced by {@value #HOST_PATH}. */
    String scrub(String message) {
        if (message == null) return "";
        String out = message;
        for (Pattern p : hostRoots) out = p.matcher(out).replaceAll(Matcher.quoteReplacement(HOST_PATH));
        return out;
    }

    static void write(Context ctx, int status, String code, String message, String vmId) {
        ctx.status(status).json(ErrorBody.of(code, message, vmId));
    }

    /** The route template ({@code /v1/vms/{vm_id}/files/<path>}): names the operation without the request's values. */
    private static String route(Context ctx) {
        try {
            var endpoint = ctx.endpoints().matchedHttpEndpoint();
            if (endpoint != null) return endpoint.path;
        } catch (RuntimeException ignored) {
            // no endpoint matched
        }
        return "this request";
    }

    private static boolean hostFailure(BurrowException e) {
        return e instanceof DriverException || e instanceof StoreUnavailableException
                || e.kind() == BurrowException.Kind.INTERNAL;
    }

    private static String ref() {
        return UUID.randomUUID().toString().substring(0, 8);
    }
}
