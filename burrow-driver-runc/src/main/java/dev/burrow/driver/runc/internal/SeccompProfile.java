package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
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
 *       use (query, PER_LINUX, PER_LINUX32, UNAME26);</li>
 *   <li>{@code ioctl} for every request except the btrfs ioctls that create a subvolume or a snapshot
 *       ({@link #DENIED_IOCTLS}): on a btrfs root any process could otherwise make a nested subvolume, which
 *       has a qgroup of its own outside the VM's disk quota and is left out of the VM's snapshots.</li>
 * </ul>
 * <p>The ioctl rules are not in the resource but generated here ({@link #ioctlRules}), because of two traps:
 * <ul>
 *   <li>libseccomp (2.5.4 under runc 1.1.5, checked) lets an unconditional ALLOW of a syscall win over every
 *       argument-filtered rule of the same syscall, whatever their action, so "allow ioctl, but ERRNO for
 *       these requests" silently allows everything. Instead ioctl is allowed only by argument-filtered rules
 *       that cover every request but the denied ones (the profile's default action answers EPERM for those),
 *       so no two rules overlap and no precedence is involved;</li>
 *   <li>the kernel takes the request as an {@code unsigned int} while seccomp sees the full 64-bit register,
 *       so {@code 0xffffffff5000940e} creates a subvolume as {@code 0x5000940e} does. Every rule therefore
 *       masks the request to its low 32 bits (which also keeps musl programs working: musl passes the
 *       request sign-extended, {@code 0xffffffff8…} for every request with bit 31 set).</li>
 * </ul>
 * <p>Each rule is {@code (request & mask) == value} for one aligned block of 32-bit requests: the complement of
 * the denied requests cut into maximal such blocks (39 rules for the four requests).
 * <p>The resource lists the x86 family (x86_64 with its i386 and x32 ABIs); on an arm64 host the architectures
 * are swapped for arm64 and arm, the same list of names applying.
 */
public final class SeccompProfile {
    static final String RESOURCE = "/dev/burrow/driver/runc/seccomp-default.json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] PROFILE = load();

    /**
     * ioctl requests every VM is refused (EPERM), from linux/btrfs.h: {@code _IOW(0x94, nr, struct)} with
     * {@code struct btrfs_ioctl_vol_args} and {@code btrfs_ioctl_vol_args_v2} both 4096 bytes.
     */
    public static final Map<String, Long> DENIED_IOCTLS = Map.of(
            "BTRFS_IOC_SNAP_CREATE", 0x50009401L,
            "BTRFS_IOC_SUBVOL_CREATE", 0x5000940eL,
            "BTRFS_IOC_SNAP_CREATE_V2", 0x50009417L,
            "BTRFS_IOC_SUBVOL_CREATE_V2", 0x50009418L);

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
            @SuppressWarnings("unchecked")
            List<Object> syscalls = (List<Object>) profile.get("syscalls");
            syscalls.addAll(ioctlRules(DENIED_IOCTLS.values().stream().toList()));
            return profile;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot parse " + RESOURCE, e);
        }
    }

    /**
     * Rules allowing ioctl for every 32-bit request (the bits above are ignored, as the kernel ignores them)
     * except {@code denied}: one {@code SCMP_CMP_MASKED_EQ} rule per maximal aligned block free of denied values.
     */
    static List<Map<String, Object>> ioctlRules(List<Long> denied) {
        List<Map<String, Object>> rules = new ArrayList<>();
        cover(0L, 0, denied, rules);
        return rules;
    }

    /** Adds rules for the block of requests whose top {@code bits} bits equal {@code prefix}. */
    private static void cover(long prefix, int bits, List<Long> denied, List<Map<String, Object>> rules) {
        long size = 1L << (32 - bits);
        long low = prefix << (32 - bits);
        boolean clean = denied.stream().noneMatch(d -> d >= low && d < low + size);
        if (clean) {
            Map<String, Object> arg = new LinkedHashMap<>();
            arg.put("index", 1);
            arg.put("value", 0xffffffffL & ~(size - 1)); // the mask; its upper 32 bits 0
            arg.put("valueTwo", low);
            arg.put("op", "SCMP_CMP_MASKED_EQ");
            Map<String, Object> rule = new LinkedHashMap<>();
            rule.put("names", new ArrayList<>(List.of("ioctl")));
            rule.put("action", "SCMP_ACT_ALLOW");
            rule.put("args", new ArrayList<>(List.of(arg)));
            rules.add(rule);
        } else if (bits < 32) {
            cover(prefix << 1, bits + 1, denied, rules);
            cover((prefix << 1) | 1, bits + 1, denied, rules);
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
