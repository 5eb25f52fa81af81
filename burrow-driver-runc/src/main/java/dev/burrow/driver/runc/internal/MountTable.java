package dev.burrow.driver.runc.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.burrow.core.driver.DriverException;

/**
 * The mounts of this process's mount namespace, read from {@code /proc/self/mountinfo}. The driver asks it
 * before deleting any directory (a recursive delete that walks into a still-mounted VM root or image would
 * destroy data it does not own) and when reporting what exists on the host.
 */
public record MountTable(List<Mount> mounts) {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");
    private static final String DELETED_SUFFIX = " (deleted)";

    public MountTable {
        mounts = List.copyOf(mounts);
    }

    /** One line of mountinfo: where it is mounted, the filesystem type and the mount source. */
    public record Mount(Path mountPoint, String fsType, String source) { }

    public static MountTable read() {
        try {
            return parse(Files.readString(MOUNTINFO, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new DriverException("cannot read " + MOUNTINFO + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses mountinfo text (proc(5)): {@code id parent major:minor root mountpoint options [optional…] -
     * fstype source superoptions}; paths have space, tab, newline and backslash escaped as octal.
     */
    public static MountTable parse(String text) {
        List<Mount> result = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank()) continue;
            String[] f = line.split(" ");
            int sep = -1;
            for (int i = 6; i < f.length; i++) {
                if (f[i].equals("-")) {
                    sep = i;
                    break;
                }
            }
            if (f.length < 5 || sep < 0 || sep + 2 >= f.length) {
                throw new DriverException("unexpected line in " + MOUNTINFO + ": " + line);
            }
            String mountPoint = unescape(f[4]);
            // A mount whose mount point was deleted keeps existing; mountinfo marks it with this suffix.
            if (mountPoint.endsWith(DELETED_SUFFIX)) {
                mountPoint = mountPoint.substring(0, mountPoint.length() - DELETED_SUFFIX.length());
            }
            result.add(new Mount(Path.of(mountPoint), f[sep + 1], unescape(f[sep + 2])));
        }
        return new MountTable(result);
    }

    /** Mounts whose mount point is {@code dir} itself or lies below it (component-wise, not by string prefix). */
    public List<Mount> under(Path dir) {
        Path d = dir.toAbsolutePath().normalize();
        return mounts.stream().filter(m -> m.mountPoint().startsWith(d)).toList();
    }

    public boolean isMountPoint(Path path) {
        Path p = path.toAbsolutePath().normalize();
        return mounts.stream().anyMatch(m -> m.mountPoint().equals(p));
    }

    /** Mount points of cgroup hierarchies (v1 controllers, named v1 hierarchies and the v2 tree). */
    public List<Path> cgroupHierarchies() {
        return mounts.stream()
                .filter(m -> m.fsType().equals("cgroup") || m.fsType().equals("cgroup2"))
                .map(Mount::mountPoint)
                .distinct()
                .toList();
    }

    private static String unescape(String s) {
        if (s.indexOf('\\') < 0) return s;
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < b.length; i++) {
            if (b[i] == '\\' && i + 3 < b.length
                    && isOctal(b[i + 1]) && isOctal(b[i + 2]) && isOctal(b[i + 3])) {
                out.write(((b[i + 1] - '0') << 6) | ((b[i + 2] - '0') << 3) | (b[i + 3] - '0'));
                i += 3;
            } else {
                out.write(b[i]);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static boolean isOctal(byte c) {
        return c >= '0' && c <= '7';
    }
}
