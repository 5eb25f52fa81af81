package dev.burrow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * {@link ErrorCode} is the one registry of error codes: every code thrown anywhere in the sources (a name given as a
 * string included) is in it, each is answered with the status it registers, and {@code /openapi.json} documents
 * exactly the registry — the error body's enum is its names, and each code is listed under each status it has.
 */
class ErrorCodeRegistryTest {
    /** A code given by name where an exception is made: after a kind, as the first argument of a factory, a setup step's. */
    private static final List<Pattern> CODE_BY_NAME = List.of(
            Pattern.compile("Kind\\.\\w+\\s*,\\s*\"([A-Z][A-Z0-9_]*)\""),
            Pattern.compile("(?:badRequest|notFound|conflict|bad)\\(\\s*\"([A-Z][A-Z0-9_]*)\""),
            Pattern.compile("SetupStep\\([^;]*?,\\s*\"([A-Z][A-Z0-9_]*)\"", Pattern.DOTALL),
            Pattern.compile("ErrorResponses\\.write\\([^;]*?\"([A-Z][A-Z0-9_]*)\"", Pattern.DOTALL));

    @Test
    void everyCodeTheSourcesThrowIsInTheRegistry() throws IOException {
        Set<String> registered = new HashSet<>();
        for (ErrorCode c : ErrorCode.values()) registered.add(c.name());
        List<String> missing = new ArrayList<>();
        int seen = 0;
        Path root = Path.of("..").toAbsolutePath().normalize();
        try (Stream<Path> modules = Files.list(root)) {
            for (Path module : modules.filter(m -> m.getFileName().toString().startsWith("burrow-")).toList()) {
                Path src = module.resolve("src/main/java");
                if (!Files.isDirectory(src)) continue;
                try (Stream<Path> files = Files.walk(src)) {
                    for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                        String text = Files.readString(f);
                        for (Pattern p : CODE_BY_NAME) {
                            Matcher m = p.matcher(text);
                            while (m.find()) {
                                seen++;
                                if (!registered.contains(m.group(1))) missing.add(root.relativize(f) + ": " + m.group(1));
                            }
                        }
                    }
                }
            }
        }
        assertThat(seen).as("the scan finds the codes still given by name").isPositive();
        assertThat(missing).as("codes thrown by name but not in ErrorCode").isEmpty();
    }

    @Test
    void aCodeGivenByNameIsAnsweredWithItsRegisteredStatus() {
        // VM_NOT_RUNNING was a 409 at one throw site and a 400 at others: the registry's (the vendor SDK's) wins
        var e = new BurrowException(BurrowException.Kind.CONFLICT, "VM_NOT_RUNNING", "m");
        assertThat(e.status()).isEqualTo(ErrorCode.VM_NOT_RUNNING.status).isEqualTo(400);
        assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_REQUEST);
        // CAPACITY is the one code with two statuses: full (503) and busy (429)
        assertThat(new BurrowException(BurrowException.Kind.TOO_MANY_REQUESTS, "CAPACITY", "m").status()).isEqualTo(429);
        assertThat(new BurrowException(BurrowException.Kind.UNAVAILABLE, "CAPACITY", "m").status()).isEqualTo(503);
        assertThat(new BurrowException(BurrowException.Kind.BAD_REQUEST, "CAPACITY", "m").status()).isEqualTo(503);
        for (ErrorCode c : ErrorCode.values()) {
            assertThat(c.name()).matches("[A-Z][A-Z0-9]*(_[A-Z0-9]+)*");
            assertThat(c.statuses()).allSatisfy(s -> assertThat(s).isBetween(400, 599));
            assertThat(BurrowException.of(c, "m").status()).isEqualTo(c.status);
        }
    }

    @Test
    void theOpenApiDocumentListsExactlyTheRegistry() {
        JsonNode doc = Json.MAPPER.valueToTree(new RouteTable(null).openApi("test"));
        List<String> all = Arrays.stream(ErrorCode.values()).map(Enum::name).toList();
        JsonNode body = doc.at("/components/schemas/ErrorBody");
        assertThat(names(body.at("/properties/error/enum"))).containsExactlyElementsOf(all);
        assertThat(names(body.at("/properties/code/enum"))).containsExactlyElementsOf(all);
        assertThat(names(body.at("/required"))).contains("error", "code", "message", "description");

        JsonNode responses = doc.at("/components/responses");
        Set<String> documented = new TreeSet<>();
        for (ErrorCode c : ErrorCode.values()) {
            for (int status : c.statuses()) {
                boolean ownResponse = Arrays.stream(RouteTable.ERROR_STATUSES).anyMatch(s -> s == status);
                JsonNode r = responses.get(ownResponse ? "Error" + status : "Error");
                assertThat(r).as(c + " " + status).isNotNull();
                assertThat(names(r.at("/content/application~1json/schema/allOf/1/properties/code/enum")))
                        .as(c + " is documented under " + (ownResponse ? status : "default")).contains(c.name());
                documented.add(c.name());
            }
        }
        assertThat(documented).containsExactlyInAnyOrderElementsOf(all);
        // and no response lists a code under a status it is not answered with
        for (int status : RouteTable.ERROR_STATUSES) {
            for (String code : names(responses.get("Error" + status).at("/content/application~1json/schema/allOf/1/properties/code/enum"))) {
                assertThat(ErrorCode.valueOf(code).statuses()).as(code).contains(status);
            }
        }
        assertThat(doc.get("servers")).isNotEmpty();
    }

    private static List<String> names(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
