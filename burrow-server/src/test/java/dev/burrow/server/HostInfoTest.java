package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;

import org.junit.jupiter.api.Test;

/** The host facts admission is computed from are the kernel's, as a shell reads them. */
class HostInfoTest {
    @Test
    void pidMaxIsTheWholeNumberTheKernelShows() throws IOException, InterruptedException {
        Process cat = new ProcessBuilder("cat", "/proc/sys/kernel/pid_max").start();
        long shown = Long.parseLong(new String(cat.getInputStream().readAllBytes()).strip());
        assertThat(cat.waitFor()).isZero();
        // (Files.readString gave "3" for 32768: the node's pids cap came out as 1,024 and creates failed past ~500 VMs)
        assertThat(HostInfo.pidMax()).isEqualTo(shown);
    }
}
