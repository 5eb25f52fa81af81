package dev.burrow.core.vm;

import java.security.SecureRandom;
import java.time.Instant;
import java.util.regex.Pattern;

/**
 * An immutable copy of a VM's disk, made by {@code POST /v1/vms/{id}/snapshot}, a fork, or a template build
 * ({@code POST /v1/vms/snapshots}). It outlives its source VM. {@code sourceSpec} is the source VM's spec when the
 * snapshot was taken: a fork starts with the same resources, env and labels, a create from the snapshot inherits its
 * env and workdir, and shows the source's image.
 *
 * @param name          optional user label, not unique
 * @param persistence   sticky (evictable under storage pressure, by priority then least recently used) or
 *                      persistent (kept until deleted); never ephemeral
 * @param lastUsedAt    when a VM was last made from it (its creation time until then): the LRU order of eviction
 * @param templateHash  for a snapshot built from a template: the cache key (canonical template hash), else null
 * @param failureReason non-null for a recorded failed template build: such a row has no disk and cannot be used
 * @param user          the default user of VMs made from it (a Dockerfile's USER), null for root
 */
public record Snapshot(String id, String name, String sourceVmId, String image, VmSpec sourceSpec, Instant createdAt,
                       Persistence persistence, Instant lastUsedAt, String templateHash, String failureReason,
                       String user) {
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
    /** Freestyle's snapshot id shape: {@code sc-} and 20 lowercase alphanumerics. */
    private static final Pattern SHAPE = Pattern.compile("sc-[a-z0-9]{20}");
    private static final SecureRandom RANDOM = new SecureRandom();

    public Snapshot {
        if (persistence == null) persistence = Persistence.DEFAULT;
        if (persistence.type() == Persistence.Type.EPHEMERAL) {
            throw new IllegalArgumentException("a snapshot is sticky or persistent, not ephemeral");
        }
        if (lastUsedAt == null) lastUsedAt = createdAt;
    }

    /** A sticky (default priority) snapshot of a VM, never used yet. */
    public Snapshot(String id, String name, String sourceVmId, String image, VmSpec sourceSpec, Instant createdAt) {
        this(id, name, sourceVmId, image, sourceSpec, createdAt, Persistence.DEFAULT, createdAt, null, null, null);
    }

    public boolean failed() {
        return failureReason != null;
    }

    public Snapshot withName(String newName) {
        return new Snapshot(id, newName, sourceVmId, image, sourceSpec, createdAt, persistence, lastUsedAt, templateHash,
                failureReason, user);
    }

    public Snapshot withPersistence(Persistence p) {
        return new Snapshot(id, name, sourceVmId, image, sourceSpec, createdAt, p, lastUsedAt, templateHash,
                failureReason, user);
    }

    public static String generateId() {
        char[] c = new char[20];
        for (int i = 0; i < c.length; i++) c[i] = ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length()));
        return "sc-" + new String(c);
    }

    public static boolean validId(String id) {
        return id != null && SHAPE.matcher(id).matches();
    }
}
