package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The harness itself: a fake server starts fast, serves the real API and leaves nothing behind. */
class FakeServerTest {
    @Test
    void startsInWellUnderASecondAndServesTheApi() {
        long t0 = System.nanoTime();
        TestServer srv = FakeServer.start();
        long startMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("fake server started in " + startMs + " ms");
        try (srv) {
            assertThat(srv.call("GET", "/healthz", null, null).status()).isEqualTo(200);
            assertThat(srv.call("GET", "/v1/vms", null, null).status()).isEqualTo(401);
            String vm = srv.createVm("{}");
            var info = srv.get("/v1/vms/" + vm);
            assertThat(info.status()).as(info.toString()).isEqualTo(200);
            assertThat(info.json().get("state").asText()).isEqualTo("running");
            assertThat(srv.server.database()).isNull();
            assertThat(srv.server.driver().name()).isEqualTo("fake");
        }
        assertThat(srv.dataDir).doesNotExist();
    }
}
