package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import picocli.CommandLine;

/** {@code burrow server}'s options: one group per configuration section, each writing its own part. */
class ServerOptionsTest {

    private static ServerConfig parse(String... args) {
        ServerOptions options = new ServerOptions();
        new CommandLine(new Holder(options)).parseArgs(args);
        return options.toConfig(null);
    }

    @CommandLine.Command(name = "server")
    static final class Holder {
        @CommandLine.Mixin
        final ServerOptions options;

        Holder(ServerOptions options) {
            this.options = options;
        }
    }

    @Test
    void withoutOptionsEverySectionHasItsDefaults() {
        ServerConfig c = parse();
        assertThat(c.host()).isEqualTo("127.0.0.1");
        assertThat(c.port()).isEqualTo(ServerConfig.DEFAULT_PORT);
        assertThat(c.dataDir()).isEqualTo(Path.of("./data"));
        assertThat(c.databaseUrl()).isNull();
        assertThat(c.defaultImage()).isEqualTo(ServerConfig.DEFAULT_IMAGE);
        assertThat(c.prewarmDefaultImage()).isTrue();
        assertThat(c.admission()).isEqualTo(ServerConfig.Admission.defaults());
        assertThat(c.lifecycle()).isEqualTo(ServerConfig.Lifecycle.defaults());
        assertThat(c.observability().maxVms()).isEqualTo(ServerConfig.Observability.DEFAULT_MAX_VMS);
        assertThat(c.storage()).isEqualTo(ServerConfig.Storage.defaults());
        assertThat(c.network()).isEqualTo(ServerConfig.Network.defaults());
        assertThat(c.images().gcAfter()).isEqualTo(Duration.ofHours(24));
        assertThat(c.ssh().port()).isEqualTo(ServerConfig.Ssh.DEFAULT_PORT);
        assertThat(c.preview().port()).isEqualTo(ServerConfig.Preview.DEFAULT_PORT);
        assertThat(c.preview().tls()).isNull();
        assertThat(c.registries().authFile()).isNull();
    }

    @Test
    void eachOptionLandsInItsSection() {
        ServerConfig c = parse("--host", "0.0.0.0", "--port", "9000", "--data-dir", "/srv/burrow",
                "--database-url", "jdbc:postgresql://db/burrow", "--database-user", "u", "--database-password", "p",
                "--default-image", "builtin:busybox", "--image-gc-after", "off", "--insecure-registry", "reg:5000",
                "--storage", "overlay", "--storage-quota-mb", "5", "--max-vms", "7", "--cpu-overcommit", "2",
                "--max-execs", "9", "--vm-pids-max", "64", "--hibernate-after", "PT0S", "--stuck-limit", "PT1M",
                "--vm-network", "off", "--vm-subnet", "10.213.0.0/16", "--vm-allow-private", "10.1.0.0/16",
                "--preview-port", "9100", "--preview-domain", "example.test", "--ssh-port", "-1");
        assertThat(c.host()).isEqualTo("0.0.0.0");
        assertThat(c.port()).isEqualTo(9000);
        assertThat(c.dataDir()).isEqualTo(Path.of("/srv/burrow"));
        assertThat(c.databaseUrl()).isEqualTo("jdbc:postgresql://db/burrow");
        assertThat(c.databaseUser()).isEqualTo("u");
        assertThat(c.databasePassword()).isEqualTo("p");
        assertThat(c.defaultImage()).isEqualTo("builtin:busybox");
        assertThat(c.images().gcAfter()).isNull();
        assertThat(c.registries().insecure()).containsExactly("reg:5000");
        assertThat(c.storage().kind()).isEqualTo("overlay");
        assertThat(c.lifecycle().storageQuotaBytes()).isEqualTo(5L * 1024 * 1024);
        assertThat(c.observability().maxVms()).isEqualTo(7);
        assertThat(c.admission().cpuOvercommit()).isEqualTo(2.0);
        assertThat(c.admission().maxExecs()).isEqualTo(9);
        assertThat(c.admission().vmPidsMax()).isEqualTo(64);
        assertThat(c.lifecycle().hibernateAfter()).isNull();
        assertThat(c.lifecycle().stuckLimit()).isEqualTo(Duration.ofMinutes(1));
        assertThat(c.network().enabled()).isFalse();
        assertThat(c.network().subnet()).isEqualTo("10.213.0.0/16");
        assertThat(c.network().allowPrivate()).containsExactly("10.1.0.0/16");
        assertThat(c.preview().port()).isEqualTo(9100);
        assertThat(c.preview().baseDomain()).isEqualTo("example.test");
        assertThat(c.ssh().port()).isEqualTo(-1);
    }

    @Test
    void aWrongValueIsAUsageErrorNamingItsOptionAndNothingStarts(@TempDir Path dir) {
        for (List<String> bad : List.of(List.of("--max-vms", "0"), List.of("--vm-network", "maybe"),
                List.of("--vm-subnet", "10.0.0.0/8"), List.of("--image-gc-after", "soon"), List.of("--stuck-limit", "PT0S"),
                List.of("--cpu-overcommit", "-1"), List.of("--storage", "zfs"), List.of("--log-format", "xml"),
                List.of("--registry-auth-file", dir.resolve("missing.json").toString()))) {
            StringWriter err = new StringWriter();
            var args = new java.util.ArrayList<>(List.of("server", "--data-dir", dir.resolve("data").toString()));
            args.addAll(bad);
            int code = new CommandLine(new Main()).setErr(new PrintWriter(err)).execute(args.toArray(String[]::new));
            assertThat(code).as(bad.toString()).isEqualTo(2);
            String option = bad.get(0).equals("--stuck-limit") ? "negative" : bad.get(0);
            assertThat(err.toString()).as(bad.toString()).contains(option);
        }
        assertThat(dir.resolve("data")).doesNotExist();
    }

    @Test
    void theHelpShowsOneHeadingPerSection() {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new Main()).setOut(new PrintWriter(out)).execute("server", "--help");
        assertThat(code).isZero();
        assertThat(out.toString()).contains("Server", "Database", "Images", "Storage", "Capacity and admission",
                "Lifecycle", "VM networking", "Previews", "SSH gateway", "Observability");
    }
}
