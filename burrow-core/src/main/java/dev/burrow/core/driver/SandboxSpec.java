package dev.burrow.core.driver;

import java.util.Map;

/**
 * What the driver needs to build one sandbox. {@code imageRef} has been prepared with
 * {@link SandboxDriver#prepareImage} before.
 */
public record SandboxSpec(
        String vmId,
        String imageRef,
        int vcpuCount,
        int memSizeMb,
        int pidsLimit,
        Map<String, String> env,
        String workdir,
        String hostname) {

    public SandboxSpec {
        env = env == null ? Map.of() : Map.copyOf(env);
    }
}
