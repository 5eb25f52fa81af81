package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The seccomp filter every VM runs under: the OCI runtime-spec {@code linux.seccomp} object the driver puts into
 * config.json. Its effect equals Docker's default profile for a container holding Docker's default capabilities
 * (no CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE, …):
 * <ul>
 *   <li>an allowlist — anything not named fails with EPERM, so a syscall added to a future kernel is closed
 *       until reviewed (runc itself answers ENOSYS for syscalls newer than its libseccomp knows, so libc
 *       falls back instead of failing);</li>
 *   <li>the allowed groups in the resource are: files and descriptors; memory; processes, credentials and
 *       scheduling; signals and time; polling, async I/O and IPC; sockets and system information;
 *       ptrace of the sandbox's own processes (safe alongside seccomp since Linux 4.8, as in Docker);</li>
 *   <li>closed on purpose: mount and the new mount API, unshare, setns, namespace flags of clone, bpf,
 *       perf_event_open, keyctl/add_key/request_key, kexec, module loading, reboot, swapon, acct, quotactl,
 *       clock/time setting, syslog, userfaultfd, open_by_handle_at (the "shocker" escape), kcmp,
 *       pidfd_getfd, process_madvise, io_uring (a large kernel attack surface Docker also dropped);</li>
 *   <li>{@code clone} only without CLONE_NEW* flags, {@code clone3} answers ENOSYS (its flags live in a
 *       struct seccomp cannot inspect, and ENOSYS makes glibc fall back to clone), {@code socket} for
 *       every address family except AF_ALG and AF_VSOCK, {@code personality} only for the values programs
 *       use (query, PER_LINUX, PER_LINUX32, UNAME26).</li>
 * </ul>
 * The resource lists the x86 family (x86_64 with its i386 and x32 ABIs); on an arm64 host the architectures
 * are swapped for arm64 and arm, the same list of names applying.
 */
public final class SeccompProfile {
    static final String RESOURCE = "/dev/burrow/driver/runc/seccomp-default.json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] PROFILE = load();

    private SeccompProfile() { }

    /**
     * A fresh, mutable copy of the default profile for this host's architecture, ready to be put under
     * {@code linux.seccomp} in a runtime config (a copy so one VM's adjustments never leak into another's).
     */
    public static Map<String, Object> defaultProfile() {
        try {
            Map<String, Object> profile = JSON.readValue(PROFILE, new TypeReference<LinkedHashMap<String, Object>>() { });
            String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
            if (arch.equals("aarch64") || arch.equals("arm64")) {
                profile.put("architectures", List.of("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"));
            }
            return profile;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot parse " + RESOURCE, e);
        }
    }

    private static byte[] load() {
        try (InputStream in = SeccompProfile.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IllegalStateException("missing resource " + RESOURCE);
            byte[] bytes = in.readAllBytes();
            JSON.readTree(bytes); // fail at class load, not at the first VM, if the resource is broken
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }
}
