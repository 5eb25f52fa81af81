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

    /** The kernel's highest pid (every process and thread of the host shares it); 32768 when unreadable. */
    static long pidMax() {
        try {
            // not Files.readString: /proc/sys files report size 0 and the JDK then reads one byte ("3" of 32768)
            return Long.parseLong(Files.readAllLines(Path.of("/proc/sys/kernel/pid_max")).get(0).strip());
        } catch (IOException | NumberFormatException | IndexOutOfBoundsException e) {
            return 32768;
        }
    }
}
