package dev.burrow.core.vm;

import java.security.SecureRandom;
import java.time.Instant;
import java.util.regex.Pattern;

/**
 * An immutable copy of a VM's disk, made by {@code POST /v1/vms/{id}/snapshot} or a fork. It outlives its source
 * VM. {@code sourceSpec} is the source VM's spec when the snapshot was taken: a fork starts with the same
 * resources, env and labels, and a create from the snapshot shows the source's image.
 *
 * @param name optional user label, not unique
 */
public record Snapshot(String id, String name, String sourceVmId, String image, VmSpec sourceSpec, Instant createdAt) {
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
    /** Freestyle's snapshot id shape: {@code sc-} and 20 lowercase alphanumerics. */
    private static final Pattern SHAPE = Pattern.compile("sc-[a-z0-9]{20}");
    private static final SecureRandom RANDOM = new SecureRandom();

    public static String generateId() {
        char[] c = new char[20];
        for (int i = 0; i < c.length; i++) c[i] = ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length()));
        return "sc-" + new String(c);
    }

    public static boolean validId(String id) {
        return id != null && SHAPE.matcher(id).matches();
    }
}
