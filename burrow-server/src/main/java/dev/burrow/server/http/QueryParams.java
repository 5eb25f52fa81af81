package dev.burrow.server.http;

import io.javalin.http.Context;

/** Query parameters the API modules share, with the same 400 wording everywhere. */
final class QueryParams {
    private QueryParams() { }

    /** {@code dflt} when the parameter is absent; a 400 unless it is an integer in [min, max]. */
    static int intParam(Context ctx, String name, int dflt, int min, int max) {
        String v = ctx.queryParam(name);
        if (v == null) return dflt;
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw ApiException.badRequest("'" + name + "' must be an integer between " + min + " and " + max);
        }
    }
}
