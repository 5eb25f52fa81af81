package dev.burrow.server.http;

import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

import com.fasterxml.jackson.annotation.JsonProperty;

import dev.burrow.api.ErrorBody;
import dev.burrow.core.error.ErrorCode;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Handler;
import io.javalin.http.HandlerType;
import io.javalin.websocket.WsConfig;

/**
 * Every HTTP route is registered through here, which adds it to Javalin behind the access it declares and records it
 * for {@code GET /openapi.json}; request and response schemas are derived from the wire records, so the document
 * cannot describe a field the code does not have. A test compares this table with Javalin's own list of handlers,
 * and another calls every route without a key.
 *
 * <p>Access is part of the declaration and applied here, to that route alone: there are no path-prefix filters a new
 * route could fall outside of. A route without an API key must also be on {@link #PUBLIC}, so making one public takes
 * two deliberate edits.
 */
public final class RouteTable {
    /** Who may call a route. */
    public enum Access {
        /** No credential: probes, scrapes and the API description, listed in {@link #PUBLIC}. */
        PUBLIC,
        /** {@code Authorization: Bearer <API key>} (a WebSocket upgrade may also send it as {@code ?access_token=}). */
        API_KEY
    }

    /**
     * The only routes served without a key (method and path as declared). The preview proxy and the SSH gateway are
     * separate listeners with their own token checks and are not routes of this table.
     */
    public static final Set<String> PUBLIC = Set.of("GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json");

    /** One route; a WebSocket route is the {@code GET} that upgrades. */
    public record Route(HandlerType method, String path, String summary, Class<?> request, Class<?> response,
                        Access access, boolean webSocket) {
        public boolean authenticated() {
            return access != Access.PUBLIC;
        }
    }

    private final List<Route> routes = new ArrayList<>();
    private final Auth auth;

    public RouteTable(Auth auth) {
        this.auth = auth;
    }

    public void add(RoutesConfig cfg, HandlerType method, String path, String summary, Class<?> request,
                    Class<?> response, Access access, Handler handler) {
        routes.add(new Route(method, path, summary, request, response, checkedAccess(method, path, access), false));
        cfg.addHttpHandler(method, path, access == Access.PUBLIC ? handler : ctx -> {
            auth.check(ctx);
            handler.handle(ctx);
        });
    }

    /**
     * A WebSocket route. OpenAPI has no WebSocket operation, so it is described as the {@code GET} that upgrades,
     * with the message protocol in its summary. A WebSocket upgrade skips HTTP handlers, so the key is checked before
     * the upgrade of this path; browsers cannot set headers there, so it may also come as {@code ?access_token=}.
     */
    public void addWs(RoutesConfig cfg, String path, String summary, Access access, Consumer<WsConfig> ws) {
        routes.add(new Route(HandlerType.GET, path, summary, null, null, checkedAccess(HandlerType.GET, path, access), true));
        if (access != Access.PUBLIC) cfg.wsBeforeUpgrade(path, auth::checkUpgrade);
        cfg.ws(path, ws);
    }

    private static Access checkedAccess(HandlerType method, String path, Access access) {
        if (access == Access.PUBLIC && !PUBLIC.contains(method.name() + " " + path)) {
            throw new IllegalStateException(method + " " + path + " is declared public but is not in RouteTable.PUBLIC");
        }
        return access;
    }

    public List<Route> routes() {
        return List.copyOf(routes);
    }

    /** An OpenAPI 3.1 document of every registered route. */
    public Map<String, Object> openApi(String version) {
        Map<String, Object> schemas = new TreeMap<>();
        Map<String, Object> paths = new TreeMap<>();
        for (Route r : routes) {
            String oaPath = r.path().replace("<", "{").replace(">", "}");
            @SuppressWarnings("unchecked")
            Map<String, Object> item = (Map<String, Object>) paths.computeIfAbsent(oaPath, k -> new LinkedHashMap<>());
            Map<String, Object> op = new LinkedHashMap<>();
            op.put("summary", r.summary());
            op.put("operationId", operationId(r));
            List<Object> params = new ArrayList<>();
            var m = java.util.regex.Pattern.compile("\\{([^}]+)}").matcher(oaPath);
            while (m.find()) {
                params.add(Map.of("name", m.group(1), "in", "path", "required", true, "schema", Map.of("type", "string")));
            }
            if (!params.isEmpty()) op.put("parameters", params);
            if (r.request() != null) {
                op.put("requestBody", Map.of("required", false, "content",
                        Map.of("application/json", Map.of("schema", ref(r.request(), schemas)))));
            }
            Map<String, Object> responses = new LinkedHashMap<>();
            responses.put("200", r.response() == null ? Map.of("description", "OK")
                    : Map.of("description", "OK", "content",
                    Map.of("application/json", Map.of("schema", ref(r.response(), schemas)))));
            for (int status : r.authenticated() ? ERROR_STATUSES : PUBLIC_ERROR_STATUSES) {
                responses.put(Integer.toString(status), Map.of("$ref", "#/components/responses/" + errorResponseName(status)));
            }
            responses.put("default", Map.of("$ref", "#/components/responses/" + errorResponseName(0)));
            op.put("responses", responses);
            if (!r.authenticated()) op.put("security", List.of());
            item.put(r.method().name().toLowerCase(Locale.ROOT), op);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("openapi", "3.1.0");
        doc.put("info", Map.of("title", "Burrow API", "version", version,
                "description", "Burrow's VM API (wire-compatible with the Freestyle VM API) and its own resources."));
        // relative: the API is served by the server that serves this document, whatever name it is reached by
        doc.put("servers", List.of(Map.of("url", "/", "description", "this Burrow server")));
        doc.put("paths", paths);
        doc.put("components", Map.of("schemas", schemas, "responses", errorResponses(schemas),
                "securitySchemes", Map.of("bearer", Map.of("type", "http", "scheme", "bearer"))));
        doc.put("security", List.of(Map.of("bearer", List.of())));
        return doc;
    }

    /**
     * The 4xx statuses every authenticated operation documents: a request's own mistakes (400), the key (401, 403), what
     * it names (404), the state it finds (409), its size (413) and this node's momentary limits (429). Every other
     * status a code of the registry has is under {@code default}.
     */
    static final int[] ERROR_STATUSES = {400, 401, 403, 404, 409, 413, 429};
    /** A public route (probes, scrapes, this document) can only be sent a request the HTTP layer refuses. */
    static final int[] PUBLIC_ERROR_STATUSES = {400};

    private static String errorResponseName(int status) {
        return status == 0 ? "Error" : "Error" + status;
    }

    /**
     * One response per documented status, and {@code default} for the rest, each the error body with the
     * {@link ErrorCode}s answered with that status as the enum of {@code error} and {@code code}; the body's own schema
     * lists every code of the registry.
     */
    private static Map<String, Object> errorResponses(Map<String, Object> schemas) {
        define(ErrorBody.class, schemas);
        @SuppressWarnings("unchecked")
        Map<String, Object> props = new LinkedHashMap<>((Map<String, Object>) ((Map<String, Object>) schemas
                .get(ErrorBody.class.getSimpleName())).get("properties"));
        List<String> all = Arrays.stream(ErrorCode.values()).map(Enum::name).toList();
        props.put("error", Map.of("type", "string", "enum", all, "description", "the error code (SCREAMING_SNAKE)"));
        props.put("code", Map.of("type", "string", "enum", all, "description", "the same value as error"));
        schemas.put(ErrorBody.class.getSimpleName(), Map.of("type", "object", "properties", props,
                "required", List.of("error", "code", "message", "description")));

        Set<Integer> documented = new java.util.HashSet<>();
        for (int s : ERROR_STATUSES) documented.add(s);
        Map<String, Object> out = new TreeMap<>();
        for (int status : ERROR_STATUSES) {
            out.put(errorResponseName(status), errorResponse(status + " " + reason(status),
                    codes(c -> c.statuses().contains(status))));
        }
        out.put(errorResponseName(0), errorResponse("Any other error (the HTTP layer's own refusals, a host failure, "
                + "the server unavailable)", codes(c -> c.statuses().stream().anyMatch(st -> !documented.contains(st)))));
        return out;
    }

    private static List<String> codes(java.util.function.Predicate<ErrorCode> which) {
        return Arrays.stream(ErrorCode.values()).filter(which).map(Enum::name).toList();
    }

    private static Map<String, Object> errorResponse(String description, List<String> codes) {
        Map<String, Object> schema = Map.of("allOf", List.of(Map.of("$ref", "#/components/schemas/ErrorBody"),
                Map.of("type", "object", "properties", Map.of("error", Map.of("enum", codes), "code", Map.of("enum", codes)))));
        return Map.of("description", description + ": " + String.join(", ", codes), "content",
                Map.of("application/json", Map.of("schema", schema)));
    }

    private static String reason(int status) {
        return switch (status) {
            case 400 -> "Bad request";
            case 401 -> "Unauthorized";
            case 403 -> "Forbidden";
            case 404 -> "Not found";
            case 409 -> "Conflict";
            case 413 -> "Payload too large";
            case 429 -> "Too many requests";
            default -> "Error";
        };
    }

    private static String operationId(Route r) {
        StringBuilder sb = new StringBuilder(r.method().name().toLowerCase(Locale.ROOT));
        for (String part : r.path().split("[/{}<>-]+")) {
            if (part.isEmpty()) continue;
            sb.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
        }
        return sb.toString();
    }

    private static Map<String, Object> ref(Class<?> type, Map<String, Object> schemas) {
        // a bare JSON array (some Freestyle routes answer one)
        if (type.isArray()) return Map.of("type", "array", "items", ref(type.getComponentType(), schemas));
        define(type, schemas);
        return Map.of("$ref", "#/components/schemas/" + type.getSimpleName());
    }

    private static void define(Class<?> type, Map<String, Object> schemas) {
        if (schemas.containsKey(type.getSimpleName())) return;
        schemas.put(type.getSimpleName(), Map.of()); // placeholder against recursion
        Map<String, Object> props = new LinkedHashMap<>();
        if (type.isRecord()) {
            for (RecordComponent c : type.getRecordComponents()) {
                JsonProperty jp = c.getAccessor().getAnnotation(JsonProperty.class);
                if (jp == null) jp = c.getAnnotation(JsonProperty.class);
                String name = jp != null && !jp.value().isEmpty() ? jp.value() : c.getName();
                props.put(name, schemaOf(c.getGenericType(), schemas));
            }
        }
        schemas.put(type.getSimpleName(), Map.of("type", "object", "properties", props));
    }

    private static Map<String, Object> schemaOf(Type t, Map<String, Object> schemas) {
        if (t instanceof ParameterizedType pt) {
            Class<?> raw = (Class<?>) pt.getRawType();
            Type[] args = pt.getActualTypeArguments();
            if (List.class.isAssignableFrom(raw)) return Map.of("type", "array", "items", schemaOf(args[0], schemas));
            if (Map.class.isAssignableFrom(raw)) {
                return Map.of("type", "object", "additionalProperties", schemaOf(args[1], schemas));
            }
            return Map.of("type", "object");
        }
        Class<?> c = (Class<?>) t;
        if (c == String.class) return Map.of("type", "string");
        if (c == Instant.class) return Map.of("type", "string", "format", "date-time");
        if (c == int.class || c == Integer.class || c == long.class || c == Long.class) return Map.of("type", "integer");
        if (c == double.class || c == Double.class) return Map.of("type", "number");
        if (c == boolean.class || c == Boolean.class) return Map.of("type", "boolean");
        if (c.isRecord()) return ref(c, schemas);
        return Map.of();
    }
}
