package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.HostResource;

/**
 * A VM root as an overlayfs mount: the unpacked image as the read-only lower layer (shared by every VM of
 * that image, never copied), {@code upper} for the VM's own writes and {@code work} for overlayfs' scratch
 * space, mounted at {@code rootfs}. All three live in {@code <vmsDir>/<vmId>/}. The lower directory is
 * recorded in {@code overlay.json} so the root can be mounted again after a reboot without the image store.
 */
public final class OverlayStorage implements RootfsStorage {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String META = "overlay.json";
    private static final Duration MOUNT_TIMEOUT = Duration.ofSeconds(30);
    private static final int UNMOUNT_ATTEMPTS = 5;

    private final Path vmsDir;

    /** @param vmsDir directory holding one directory per VM; created if missing */
    public OverlayStorage(Path vmsDir) {
        try {
            Files.createDirectories(vmsDir);
            // Canonical, because mount points in /proc/self/mountinfo are, and they are compared with it.
            this.vmsDir = vmsDir.toRealPath();
        } catch (IOException e) {
            throw new DriverException("cannot create " + vmsDir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Path prepare(String vmId, UnpackedImage image) {
        Path dir = vmDir(vmId);
        Path meta = dir.resolve(META);
        if (!Files.exists(meta)) {
            Path lower = image.rootfs().toAbsolutePath().normalize();
            if (!Files.isDirectory(lower)) {
                throw new DriverException("image " + image.ref() + " has no root filesystem at " + lower);
            }
            try {
                Files.createDirectories(dir.resolve("upper"));
                Files.createDirectories(dir.resolve("work"));
                Files.createDirectories(dir.resolve("rootfs"));
                // Written last: its presence means the layers exist, which is what exists() reports.
                Path tmp = dir.resolve(META + ".tmp");
                JSON.writeValue(tmp.toFile(), Map.of("lowerdir", lower.toString(), "imageDigest", image.digest()));
                Files.move(tmp, meta, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new DriverException("cannot create overlay layers for VM " + vmId + ": " + e.getMessage(), e);
            }
        }
        return ensureMounted(vmId);
    }

    @Override
    public Path ensureMounted(String vmId) {
        Path dir = vmDir(vmId);
        Path rootfs = dir.resolve("rootfs");
        if (MountTable.read().isMountPoint(rootfs)) return rootfs;
        Path lower = lowerDir(vmId);
        if (!Files.isDirectory(lower)) {
            throw new DriverException("image layer " + lower + " of VM " + vmId + " is gone; cannot mount its root");
        }
        String options = "lowerdir=" + optionPath(lower) + ",upperdir=" + optionPath(dir.resolve("upper"))
                + ",workdir=" + optionPath(dir.resolve("work"));
        // The source name is free text for overlayfs; naming it after the VM labels the mount in mountinfo.
        HostCommand.of("mount", "-t", "overlay", "-o", options, "burrow-" + vmId, rootfs.toString())
                .timeout(MOUNT_TIMEOUT)
                .check();
        return rootfs;
    }

    @Override
    public boolean exists(String vmId) {
        return Files.exists(vmDir(vmId).resolve(META));
    }

    @Override
    public void release(String vmId) {
        Path dir = vmDir(vmId);
        Path rootfs = dir.resolve("rootfs");
        unmount(rootfs);
        // Order matters only for crash safety: the marker goes first so a half-deleted VM is not mounted again.
        try {
            Files.deleteIfExists(dir.resolve(META));
            Files.deleteIfExists(dir.resolve(META + ".tmp"));
        } catch (IOException e) {
            throw new DriverException("cannot delete overlay metadata of VM " + vmId + ": " + e.getMessage(), e);
        }
        SafeDelete.deleteTree(rootfs);
        SafeDelete.deleteTree(dir.resolve("work"));
        SafeDelete.deleteTree(dir.resolve("upper"));
    }

    @Override
    public List<HostResource> list() {
        List<HostResource> found = new ArrayList<>();
        for (MountTable.Mount m : MountTable.read().under(vmsDir)) {
            Path rel = vmsDir.relativize(m.mountPoint());
            if (rel.getNameCount() == 0 || rel.toString().isEmpty()) continue;
            found.add(new HostResource(HostResource.Kind.MOUNT, rel.getName(0).toString(), m.mountPoint().toString()));
        }
        return found;
    }

    private void unmount(Path mountPoint) {
        for (int attempt = 1; MountTable.read().isMountPoint(mountPoint); attempt++) {
            if (attempt > UNMOUNT_ATTEMPTS + 1) {
                throw new DriverException("cannot unmount " + mountPoint + ": still mounted after lazy unmount");
            }
            HostCommand.Result r;
            if (attempt <= UNMOUNT_ATTEMPTS) {
                r = HostCommand.of("umount", mountPoint.toString()).timeout(MOUNT_TIMEOUT).run();
                // EBUSY right after a container died is usually a process still exiting; give it a moment.
                if (!r.ok()) sleep(100L * attempt);
            } else {
                // Last resort: detach now, the kernel frees it when the last user goes. Nothing below the
                // mount point is deleted through it because the mount is no longer in this namespace.
                r = HostCommand.of("umount", "-l", mountPoint.toString()).timeout(MOUNT_TIMEOUT).run();
                if (!r.ok()) throw new DriverException(r.describeFailure());
            }
        }
    }

    private Path lowerDir(String vmId) {
        Path meta = vmDir(vmId).resolve(META);
        if (!Files.exists(meta, LinkOption.NOFOLLOW_LINKS)) {
            throw new DriverException("VM " + vmId + " has no root filesystem in " + vmsDir);
        }
        try {
            JsonNode node = JSON.readTree(meta.toFile());
            return Path.of(node.path("lowerdir").asText());
        } catch (IOException e) {
            throw new DriverException("cannot read " + meta + ": " + e.getMessage(), e);
        }
    }

    private Path vmDir(String vmId) {
        return vmsDir.resolve(vmId);
    }

    /** overlayfs splits its options on ',' and lowerdir on ':'; such paths cannot be passed safely. */
    private static String optionPath(Path p) {
        String s = p.toString();
        for (char c : new char[] {',', ':', '\\', '\n', ' '}) {
            if (s.indexOf(c) >= 0) {
                throw new DriverException("path " + s + " contains '" + c + "', which overlayfs mount options cannot carry");
            }
        }
        return s;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DriverException("interrupted while unmounting");
        }
    }
}
