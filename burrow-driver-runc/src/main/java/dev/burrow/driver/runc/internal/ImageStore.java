package dev.burrow.driver.runc.internal;

import dev.burrow.core.driver.SandboxDriver.ProgressListener;

/**
 * Resolves an image reference to an unpacked root filesystem, fetching and unpacking it at most once per
 * digest. References:
 * <ul>
 *   <li>{@code builtin:debian} — a Debian bookworm minbase root filesystem built with debootstrap from
 *       Debian's packages (works offline from the internet except the Debian mirror apt already uses);</li>
 *   <li>{@code builtin:busybox} — a tiny root filesystem from the host's static busybox;</li>
 *   <li>{@code oci:/path/to/layout[:tag]} — a local OCI image layout;</li>
 *   <li>{@code docker://host/repo:tag}, {@code host:port/repo@sha256:…}, {@code library/debian:12} —
 *       a registry reference fetched with skopeo.</li>
 * </ul>
 */
public interface ImageStore {
    UnpackedImage prepare(String ref, ProgressListener progress);

    /** The already-prepared image for a reference, or null if it was never prepared here. */
    UnpackedImage find(String ref);
}
