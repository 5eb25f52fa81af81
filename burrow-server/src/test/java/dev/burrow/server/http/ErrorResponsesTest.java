package dev.burrow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

class ErrorResponsesTest {
    private final ErrorResponses errors = new ErrorResponses(List.of(Path.of("/var/lib/burrow"),
            Path.of("/var/lib/burrow/images"), Path.of("/run/burrow-runc")));

    @Test
    void pathsUnderTheServersDirectoriesAreScrubbedFromMessages() {
        assertThat(errors.scrub("cannot create /var/lib/burrow/runc/vms/abc/exec: Permission denied"))
                .isEqualTo("cannot create <host path>: Permission denied");
        assertThat(errors.scrub("layout '/var/lib/burrow/images/x' has no tag; root /run/burrow-runc."))
                .isEqualTo("layout '<host path>' has no tag; root <host path>.");
        assertThat(errors.scrub("runc --root /run/burrow-runc exec --cwd /tmp/x")).isEqualTo("runc --root <host path> exec --cwd /tmp/x");
    }

    @Test
    void pathsInsideTheVmAndLookalikePrefixesAreKept() {
        assertThat(errors.scrub("File not found: /tmp/a")).isEqualTo("File not found: /tmp/a");
        assertThat(errors.scrub("/var/lib/burrow-other/x and /var/lib/burrowed")).isEqualTo("/var/lib/burrow-other/x and /var/lib/burrowed");
        assertThat(errors.scrub(null)).isEmpty();
    }

    @Test
    void registryCodesCarryTheirStatusAndAKind() {
        var e = new BurrowException(ErrorCode.REGISTRY_UNAVAILABLE, "down");
        assertThat(e.status()).isEqualTo(502);
        assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_GATEWAY);
        assertThat(new BurrowException(ErrorCode.DISK_FULL, "full").kind()).isEqualTo(BurrowException.Kind.CONFLICT);
        assertThat(BurrowException.badRequest("X", "y").status()).isEqualTo(400);
        assertThat(ErrorCode.forStatus(431)).isEqualTo(ErrorCode.HEADERS_TOO_LARGE);
    }
}
