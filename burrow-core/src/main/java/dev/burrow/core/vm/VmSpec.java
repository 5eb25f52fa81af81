package dev.burrow.core.vm;

import java.util.Map;

/**
 * What the user asked for at create time, as far as Burrow honours it. Stored with the VM so that a
 * restart, a reconcile or a later start can rebuild the sandbox from it.
 *
 * @param idleTimeoutSeconds null = never idle-suspend
 * @param persistence        Freestyle persistence type: sticky, ephemeral or persistent
 */
public record VmSpec(
        String image,
        int vcpuCount,
        int memSizeMb,
        Map<String, String> env,
        String workdir,
        Integer idleTimeoutSeconds,
        String persistence,
        Map<String, String> labels) {

    public static final int DEFAULT_VCPUS = 2;
    public static final int DEFAULT_MEM_MB = 2048;

    public VmSpec {
        env = env == null ? Map.of() : Map.copyOf(env);
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }
}
