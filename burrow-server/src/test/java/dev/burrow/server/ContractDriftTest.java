package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.vm.VmStatus;
import dev.burrow.server.http.Json;
import dev.burrow.server.http.StateMapping;
import dev.burrow.store.Database;
import dev.burrow.store.SqlVmStore;

/**
 * Drift gates: the status enum, the database constraint and the API mapping agree; the OpenAPI document
 * and the router list the same routes.
 */
class ContractDriftTest {
    static final Set<String> FREESTYLE_STATES = Set.of("starting", "running", "suspending", "suspended", "stopped");

    @Test
    void statusEnumSchemaAndApiMappingAgree(@TempDir Path dir) {
        try (Database db = Database.open("jdbc:sqlite:" + dir.resolve("d.db"), null, null)) {
            String schema = new SqlVmStore(db).schemaSql();
            var m = java.util.regex.Pattern.compile("'([a-z]+)'").matcher(schema);
            Set<String> inSchema = new HashSet<>();
            while (m.find()) inSchema.add(m.group(1));
            Set<String> inEnum = new HashSet<>();
            for (VmStatus s : VmStatus.values()) {
                inEnum.add(s.dbName());
                assertThat(FREESTYLE_STATES).as("API state of " + s).contains(StateMapping.freestyleState(s));
            }
            assertThat(inSchema).isEqualTo(inEnum);
        }
        // and the PostgreSQL migration lists the same names as the SQLite one
        try {
            String pg = new String(getClass().getResourceAsStream("/db/migration/postgresql/V5__pulling.sql").readAllBytes());
            for (VmStatus s : VmStatus.values()) assertThat(pg).contains("'" + s.dbName() + "'");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void openApiDescribesExactlyTheRoutesTheRouterServes() throws Exception {
        try (TestServer srv = FakeServer.start()) {
            JsonNode doc = Json.MAPPER.readTree(srv.call("GET", "/openapi.json", null, null).body());
            Set<String> documented = new HashSet<>();
            doc.get("paths").fields().forEachRemaining(p -> p.getValue().fieldNames()
                    .forEachRemaining(method -> documented.add(method.toUpperCase() + " " + p.getKey())));
            Set<String> served = new HashSet<>();
            for (var h : srv.server.api().registeredHandlers()) {
                if (!h.getHttpMethod().isHttpMethod()) continue; // before/after filters are not routes
                served.add(h.getHttpMethod().name() + " " + h.getPath().replace("<", "{").replace(">", "}"));
            }
            // a WebSocket endpoint is documented as the GET that upgrades
            for (var h : srv.server.api().registeredWsHandlers()) {
                if (h.getHandlerType() != io.javalin.websocket.WsHandlerType.WEBSOCKET) continue;
                served.add("GET " + h.getPath().replace("<", "{").replace(">", "}"));
            }
            assertThat(documented).isEqualTo(served);
            assertThat(served).contains("POST /v1/vms", "GET /v1/vms/{vm_id}", "POST /v1/vms/{vm_id}/exec-await",
                    "GET /v1/vms/{vm_id}/files/{path}", "PUT /v1/vms/{vm_id}/files/{path}", "POST /v1/vms/{vm_id}/kill",
                    "POST /identity/v1/identities", "POST /identity/v1/identities/{identity}/permissions/vm/{vm_id}",
                    "DELETE /identity/v1/identities/{identity}/tokens/{token}", "POST /identity/v1/identities/{identity}/ssh-keys",
                    "GET /v1/vms/{vm_id}/processes/{process_id}/output", "GET /v1/vms/{vm_id}/terminals/{terminal_id}/ws",
                    "GET /v1/vms/{vm_id}/terminals/{terminal_id}/xterm-256color");
            // every documented request/response schema exists
            JsonNode schemas = doc.get("components").get("schemas");
            assertThat(schemas.has("CreateVmRequest")).isTrue();
            assertThat(schemas.get("CreateVmRequest").get("properties").has("memSizeMb")).isTrue();
            assertThat(schemas.get("StartResponse").get("properties").has("console_url")).isTrue();
            // every operation documents its 4xx answers with the error body; the document names its server
            doc.get("paths").fields().forEachRemaining(p -> p.getValue().fields().forEachRemaining(op -> {
                List<String> clientErrors = new ArrayList<>();
                op.getValue().get("responses").fields().forEachRemaining(r -> {
                    if (r.getKey().startsWith("4")) {
                        clientErrors.add(r.getKey());
                        assertThat(r.getValue().get("$ref").asText()).isEqualTo("#/components/responses/Error" + r.getKey());
                    }
                });
                assertThat(clientErrors).as(op.getKey() + " " + p.getKey()).contains("400");
            }));
            assertThat(doc.get("components").get("responses").get("Error400").toString()).contains("#/components/schemas/ErrorBody");
            assertThat(doc.get("servers")).isNotEmpty();
            srv.closeAndDelete();
        }
    }

}
