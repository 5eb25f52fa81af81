package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import picocli.CommandLine;

/** {@code --vm-allow-private}: IPv4 ranges normalized; anything else refused before the server starts. */
class VmAllowPrivateOptionTest {

    @Test
    void rangesAreNormalizedAndDeduplicated() {
        var n = new ServerConfig.Network(true, null, List.of(), List.of(" 169.254.169.254 ", "10.1.2.3/8", "10.0.0.0/8"));
        assertThat(n.allowPrivate()).containsExactly("169.254.169.254/32", "10.0.0.0/8");
        assertThat(ServerConfig.Network.defaults().allowPrivate()).isEmpty();
    }

    @Test
    void anIpv6OrMalformedRangeIsAClearUsageErrorAndNothingStarts(@TempDir Path dir) {
        for (String bad : List.of("fe80::/10", "10.0.0.0/33", "metadata")) {
            StringWriter err = new StringWriter();
            int code = new CommandLine(new Main()).setErr(new PrintWriter(err)).execute("server", "--data-dir",
                    dir.resolve("data").toString(), "--vm-allow-private", bad);
            assertThat(code).as(bad).isEqualTo(2);
            assertThat(err.toString()).as(bad).contains("--vm-allow-private: ").contains(bad);
        }
        assertThat(dir.resolve("data")).doesNotExist();
        assertThatThrownBy(() -> new ServerConfig.Network(true, null, List.of(), List.of("fe80::/10")))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
