package dev.burrow.core.driver;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class ShellCommandTest {

    @Test
    void aShortCommandIsItsOwnArgument() {
        assertThat(ShellCommand.argv("echo hi")).containsExactly("/bin/sh", "-c", "echo hi");
        assertThat(ShellCommand.stdin("echo hi")).isNull();
    }

    @Test
    void aLongCommandRunsFromStdinWithTheSameStdinExitCodeAndOutputAsInline() throws Exception {
        String command = "x=" + "z".repeat(300_000) + "; echo ${#x}; cat; exit 4";
        assertThat(ShellCommand.inline(command)).isFalse();
        // the host's own /bin/sh, as a VM's would run it
        Process p = new ProcessBuilder(ShellCommand.argv(command)).start();
        try (var in = p.getOutputStream()) {
            in.write(ShellCommand.stdin(command));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        // `cat` reads /dev/null, like an inline command's stdin, not the rest of the script
        assertThat(out).isEqualTo("300000\n");
        assertThat(p.exitValue()).isEqualTo(4);
    }

    @Test
    void theInlineLimitCountsUtf8Bytes() {
        assertThat(ShellCommand.inline("é".repeat(ShellCommand.MAX_INLINE_BYTES / 2))).isTrue();
        assertThat(ShellCommand.inline("é".repeat(ShellCommand.MAX_INLINE_BYTES / 2 + 1))).isFalse();
    }
}
