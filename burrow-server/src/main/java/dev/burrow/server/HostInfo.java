package dev.burrow.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Facts about the host used to bound what a create request may ask for. */
final class HostInfo {
    private HostInfo() { }

    static long totalMemoryMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux or unreadable: fall through to a conservative default
        }
        return 4096;
    }
}
