package dev.burrow.core.testing;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Tests that need root or a host tool skip on a developer laptop but FAIL when {@code CI=true}: a CI run
 * that silently skipped the runc tests would prove nothing.
 */
public final class HostRequirements {
    private HostRequirements() { }

    public static boolean ci() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    public static void require(boolean condition, String what) {
        if (ci()) {
            Assertions.assertTrue(condition, "CI=true and a test prerequisite is missing: " + what);
        } else {
            Assumptions.assumeTrue(condition, "skipped, prerequisite missing: " + what);
        }
    }

    public static void requireRoot() {
        require("root".equals(System.getProperty("user.name")), "running as root");
    }

    public static void requireCommand(String name) {
        require(onPath(name), "command '" + name + "' on PATH");
    }

    public static void requireRunc() {
        requireRoot();
        requireCommand("runc");
    }

    public static boolean onPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String dir : path.split(":")) {
            if (Files.isExecutable(Path.of(dir, name))) return true;
        }
        for (String dir : new String[] {"/usr/sbin", "/sbin", "/usr/local/sbin"}) {
            if (Files.isExecutable(Path.of(dir, name))) return true;
        }
        return false;
    }

    /** A directory shared by all test runs of one checkout (image caches), from the build. */
    public static Path testCache() {
        String dir = System.getenv("BURROW_TEST_CACHE");
        Path p = dir != null ? Path.of(dir) : Path.of(System.getProperty("java.io.tmpdir"), "burrow-test-cache");
        try {
            Files.createDirectories(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return p;
    }
}
