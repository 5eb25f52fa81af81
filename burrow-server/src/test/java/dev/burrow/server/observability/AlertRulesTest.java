package dev.burrow.server.observability;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.burrow.core.testing.HostRequirements;

/**
 * {@code deploy/prometheus/alerts.yml} is valid and behaves as its unit tests ({@code alerts_test.yml}) say:
 * each alert fires on the series that should page and stays quiet on the ones that should not.
 */
class AlertRulesTest {

    @Test
    void alertRulesPassPromtoolCheckAndUnitTests() throws Exception {
        HostRequirements.requireCommand("promtool");
        Path dir = Deploy.dir().resolve("prometheus");
        String check = promtool(dir, "check", "rules", "alerts.yml");
        assertThat(check).contains("SUCCESS: 5 rules found");
        String test = promtool(dir, "test", "rules", "alerts_test.yml");
        assertThat(test).contains("SUCCESS");
    }

    private static String promtool(Path dir, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("promtool"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("promtool finished").isTrue();
        assertThat(p.exitValue()).as("promtool %s:%n%s", String.join(" ", args), out).isZero();
        return out;
    }
}
