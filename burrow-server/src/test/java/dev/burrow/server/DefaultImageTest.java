package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * {@code POST /v1/vms {}} on a fresh machine gives a useful Debian shell: the default image is built once
 * from Debian's packages with debootstrap (cached across test runs of the checkout) and needs nothing else.
 */
class DefaultImageTest {

    @Test
    void emptyCreateGivesADebianShell() {
        try (TestServer srv = TestServer.start("builtin:debian")) {
            String id = srv.createVm("{}");
            try {
                JsonNode r = srv.post("/v1/vms/" + id + "/exec-await",
                        "{\"command\":\"bash -c 'echo bash=$BASH_VERSION'; . /etc/os-release; echo $ID $VERSION_CODENAME;"
                                + " apt-get --version | head -1; id -u; hostname; ls /proc/self/ns | wc -l\"}").json();
                assertThat(r.get("statusCode").asInt()).as(r.toString()).isZero();
                String out = r.get("stdout").asText();
                assertThat(out).contains("bash=5.").contains("debian bookworm").contains("apt ").contains("\n0\n")
                        .contains(id);
            } finally {
                srv.delete("/v1/vms/" + id);
            }
            assertThat(HostInspection.leftovers(id, srv.dataDir, srv.server.nodeId())).isEmpty();
            srv.closeAndDelete();
        }
    }
}
