package dev.burrow.server.observability;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository's {@code deploy/} directory, found from the test's working directory (the module). */
final class Deploy {
    private Deploy() { }

    static Path dir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("deploy/prometheus/alerts.yml"))) return p.resolve("deploy");
        }
        throw new AssertionError("deploy/prometheus/alerts.yml not found above " + Path.of("").toAbsolutePath());
    }
}
