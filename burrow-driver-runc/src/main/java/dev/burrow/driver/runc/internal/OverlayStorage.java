package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * A VM root as an overlayfs mount: the unpacked image as the read-only lower layer (shared by every VM of
 * that image, never copied), {@code upper} for the VM's own writes and {@code work} for overlayfs' scratch
 * space, mounted at {@code rootfs}. All three live in {@code <vmsDir>/<vmId>/}. The lower layers are recorded
 * in {@code overlay.json} so the root can be mounted again after a reboot without the image store.
 *
 * <p>A snapshot is a copy of the VM's upper directory ({@code <snapshotsDir>/<id>/layer}) plus the list of
 * lower layers the VM had; its cost grows with what the VM wrote. A VM made from it mounts
 * {@code lowerdir=<snapshot layer>:<the snapshot's lowers>} (whiteouts and opaque directories in the copied
 * layer keep hiding image files). Because such a VM, and snapshots taken of it, keep using the snapshot's layer,
 * deleting a snapshot only marks it deleted; its directory goes once no VM or kept snapshot lists its layer.
 */
public final class OverlayStorage implements RootfsStorage {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String META = "overlay.json";
    private static final String SNAPSHOT_META = "snapshot.json";
    private static final String DELETED_MARK = "deleted";
    private static final String TMP_PREFIX = ".tmp-";
    private static final Duration MOUNT_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration COPY_TIMEOUT = Duration.ofMinutes(30);
    private static final int UNMOUNT_ATTEMPTS = 5;

    private final Path vmsDir;
    private final Path snapshotsDir;
    /**
     * Guards the reference graph between VMs and snapshot layers: a VM starting to use a snapshot's layer and
     * the collection of deleted snapshots must not interleave, or a layer could be deleted under a new VM.
     */
    private final Object layerGraph = new Object();

    /** @param vmsDir directory holding one directory per VM; snapshots go to its sibling {@code snapshots} */
    public OverlayStorage(Path vmsDir) {
        this(vmsDir, vmsDir.toAbsolutePath().normalize().resolveSibling("snapshots"));
    }

    public OverlayStorage(Path vmsDir, Path snapshotsDir) {
        this.vmsDir = canonicalDir(vmsDir);
        this.snapshotsDir = canonicalDir(snapshotsDir);
        removeUnfinishedSnapshots();
    }

    @Override
    public String name() {
        return "overlay";
    }

    @Override
    public boolean supportsQuota() {
        return false;
    }

    @Override
    public Path prepare(String vmId, UnpackedImage image, Integer sizeMb) {
        refuseQuota(sizeMb);
        if (!exists(vmId)) {
            Path lower = image.rootfs().toAbsolutePath().normalize();
            if (!Files.isDirectory(lower)) {
                throw new DriverException("image " + image.ref() + " has no root filesystem at " + lower);
            }
            writeVmMeta(vmId, optionPath(lower), ImageConfigJson.toJson(image), null);
        }
        return ensureMounted(vmId);
    }

    @Override
    public Path prepareFromSnapshot(String vmId, String snapshotId, Integer sizeMb) {
        refuseQuota(sizeMb);
        if (!exists(vmId)) {
            // Under the graph lock: once overlay.json names the layer, collection keeps it.
            synchronized (layerGraph) {
                if (findSnapshot(snapshotId).isEmpty()) throw snapshotNotFound(snapshotId);
                JsonNode snap = readJson(snapshotDir(snapshotId).resolve(SNAPSHOT_META));
                String lowers = optionPath(snapshotDir(snapshotId).resolve("layer")) + ":" + snap.path("lowerdir").asText();
                writeVmMeta(vmId, lowers, snap.get("image"), snapshotId);
            }
        }
        return ensureMounted(vmId);
    }

    @Override
    public Path ensureMounted(String vmId) {
        Path dir = vmDir(vmId);
        Path rootfs = dir.resolve("rootfs");
        if (MountTable.read().isMountPoint(rootfs)) return rootfs;
        String lowers = vmMeta(vmId).path("lowerdir").asText();
        for (String lower : lowers.split(":")) {
            if (!Files.isDirectory(Path.of(lower))) {
                throw new DriverException("layer " + lower + " of VM " + vmId + " is gone; cannot mount its root");
            }
        }
        String options = "lowerdir=" + lowers + ",upperdir=" + optionPath(dir.resolve("upper"))
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
        // This VM may have been the last user of a deleted snapshot's layer.
        collectDeletedSnapshots();
    }

    @Override
    public SnapshotInfo snapshot(String vmId, String snapshotId) {
        Optional<SnapshotInfo> existing = findSnapshot(snapshotId);
        if (existing.isPresent()) return existing.get();
        JsonNode vm = vmMeta(vmId);
        Path target = snapshotDir(snapshotId);
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            // A deleted snapshot whose layer is still in use keeps its directory; its id cannot be reused.
            throw BurrowException.of(ErrorCode.SNAPSHOT_EXISTS, "snapshot " + snapshotId + " was deleted and its id is still in use");
        }
        // Built under a temporary name and renamed: a crash mid-copy never leaves a snapshot that looks complete.
        Path tmp = snapshotsDir.resolve(TMP_PREFIX + snapshotId + "-" + UUID.randomUUID().toString().substring(0, 8));
        return SnapshotPublication.publish(vmId, snapshotId, tmp, target, dir -> {
            // cp -a keeps what makes an upper dir an overlay layer: whiteouts (0:0 character devices), the
            // trusted.overlay.* xattrs of opaque directories, hard links, owners and file capabilities.
            HostCommand.of("cp", "-a", "--reflink=auto", vmDir(vmId).resolve("upper") + "/.", dir.resolve("layer").toString())
                    .timeout(COPY_TIMEOUT).check();
            ObjectNode meta = JSON.createObjectNode();
            meta.put("lowerdir", vm.path("lowerdir").asText());
            if (vm.hasNonNull("image")) meta.set("image", vm.get("image"));
            meta.put("sourceVmId", vmId);
            JSON.writeValue(dir.resolve(SNAPSHOT_META).toFile(), meta);
        }, SafeDelete::deleteTree, () -> findSnapshot(snapshotId));
    }

    @Override
    public Optional<SnapshotInfo> findSnapshot(String snapshotId) {
        Path dir = snapshotDir(snapshotId);
        Path meta = dir.resolve(SNAPSHOT_META);
        if (!Files.isRegularFile(meta, LinkOption.NOFOLLOW_LINKS) || Files.exists(dir.resolve(DELETED_MARK))) {
            return Optional.empty();
        }
        JsonNode image = readJson(meta).get("image");
        return Optional.of(new SnapshotInfo(snapshotId, image == null || image.isNull() ? null : ImageConfigJson.fromJson(image)));
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        Path dir = snapshotDir(snapshotId);
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        synchronized (layerGraph) {
            try {
                if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) && !Files.exists(dir.resolve(DELETED_MARK))) {
                    Files.createFile(dir.resolve(DELETED_MARK));
                }
            } catch (FileAlreadyExistsException e) {
                // deleted concurrently
            } catch (IOException e) {
                throw new DriverException("cannot delete snapshot " + snapshotId + ": " + e.getMessage(), e);
            }
            collectDeletedSnapshots();
        }
    }

    @Override
    public List<HostResource> list() {
        List<HostResource> found = new ArrayList<>();
        for (MountTable.Mount m : MountTable.read().under(vmsDir)) {
            Path rel = vmsDir.relativize(m.mountPoint());
            if (rel.getNameCount() == 0 || rel.toString().isEmpty()) continue;
            found.add(new HostResource(HostResource.Kind.MOUNT, rel.getName(0).toString(), m.mountPoint().toString()));
        }
        for (Path dir : snapshotDirs()) {
            String id = dir.getFileName().toString();
            if (findSnapshot(id).isPresent()) found.add(new HostResource(HostResource.Kind.SNAPSHOT, id, dir.toString()));
        }
        return found;
    }

    /**
     * Deletes every snapshot marked deleted whose layer no VM and no kept snapshot uses. Repeats until nothing
     * changes, since collecting one snapshot can free the layers it was stacked on.
     */
    private void collectDeletedSnapshots() {
        synchronized (layerGraph) {
            boolean changed = true;
            while (changed) {
                changed = false;
                Set<String> used = new HashSet<>();
                List<Path> deleted = new ArrayList<>();
                for (Path vm : vmDirs()) {
                    Path meta = vm.resolve(META);
                    if (Files.isRegularFile(meta)) used.addAll(Arrays.asList(readJson(meta).path("lowerdir").asText().split(":")));
                }
                for (Path snap : snapshotDirs()) {
                    Path meta = snap.resolve(SNAPSHOT_META);
                    if (Files.isRegularFile(meta)) used.addAll(Arrays.asList(readJson(meta).path("lowerdir").asText().split(":")));
                    if (Files.exists(snap.resolve(DELETED_MARK))) deleted.add(snap);
                }
                for (Path snap : deleted) {
                    if (!used.contains(snap.resolve("layer").toString())) {
                        SafeDelete.deleteTree(snap);
                        changed = true;
                    }
                }
            }
        }
    }

    private void writeVmMeta(String vmId, String lowerdir, JsonNode image, String snapshotId) {
        Path dir = vmDir(vmId);
        try {
            Files.createDirectories(dir.resolve("upper"));
            Files.createDirectories(dir.resolve("work"));
            Files.createDirectories(dir.resolve("rootfs"));
            // Written last: its presence means the layers exist, which is what exists() reports.
            ObjectNode meta = JSON.createObjectNode();
            meta.put("lowerdir", lowerdir);
            if (image != null && !image.isNull()) {
                meta.set("image", image);
                // Kept at the top level as well: the shape overlay.json had before snapshots.
                meta.put("imageDigest", image.path("digest").asText(null));
            }
            if (snapshotId != null) meta.put("snapshotId", snapshotId);
            AtomicJson.write(dir.resolve(META), meta);
        } catch (IOException e) {
            throw new DriverException("cannot create overlay layers for VM " + vmId + ": " + e.getMessage(), e);
        }
    }

    private JsonNode vmMeta(String vmId) {
        Path meta = vmDir(vmId).resolve(META);
        if (!Files.exists(meta, LinkOption.NOFOLLOW_LINKS)) {
            throw new DriverException("VM " + vmId + " has no root filesystem in " + vmsDir);
        }
        return readJson(meta);
    }

    /** Leftovers of snapshots a crash interrupted; nothing refers to them (their rename never happened). */
    private void removeUnfinishedSnapshots() {
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(snapshotsDir, TMP_PREFIX + "*")) {
            for (Path d : dirs) SafeDelete.deleteTree(d);
        } catch (IOException e) {
            throw new DriverException("cannot list " + snapshotsDir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public java.util.Map<String, ImageUsers> imageUsers() {
        java.util.Map<String, ImageUsers> users = new java.util.HashMap<>();
        synchronized (layerGraph) {
            for (Path vm : vmDirs()) countImage(users, vm.resolve(META), true);
            for (Path snap : snapshotDirs()) countImage(users, snap.resolve(SNAPSHOT_META), false);
        }
        return users;
    }

    private static void countImage(java.util.Map<String, ImageUsers> users, Path meta, boolean vm) {
        if (!Files.isRegularFile(meta, LinkOption.NOFOLLOW_LINKS)) return;
        String digest = readJson(meta).path("image").path("digest").asText("");
        if (!digest.isEmpty()) users.merge(digest, new ImageUsers(0, 0).plus(vm), (a, b) -> a.plus(vm));
    }

    @Override
    public boolean rootsNeedImage() {
        return true;
    }

    private List<Path> snapshotDirs() {
        return subdirectories(snapshotsDir).stream()
                .filter(d -> !d.getFileName().toString().startsWith(TMP_PREFIX)).toList();
    }

    private List<Path> vmDirs() {
        return subdirectories(vmsDir);
    }

    private static List<Path> subdirectories(Path parent) {
        List<Path> result = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(parent, p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
            dirs.forEach(result::add);
        } catch (IOException e) {
            throw new DriverException("cannot list " + parent + ": " + e.getMessage(), e);
        }
        return result;
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

    @Override
    public long usedBytes(String vmId) {
        return regularFileBytes(vmDir(vmId).resolve("upper"));
    }

    @Override
    public long snapshotUsedBytes(String snapshotId) {
        return regularFileBytes(snapshotDir(snapshotId).resolve("layer"));
    }

    private static long regularFileBytes(Path upper) {
        if (!Files.isDirectory(upper, LinkOption.NOFOLLOW_LINKS)) return -1;
        long[] total = {0};
        try (var walk = Files.walk(upper)) {
            walk.forEach(p -> {
                try {
                    var a = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (a.isRegularFile()) total[0] += a.size();
                } catch (java.io.IOException gone) {
                    // deleted by the VM while we walked
                }
            });
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            return -1;
        }
        return total[0];
    }

    private Path vmDir(String vmId) {
        return vmsDir.resolve(vmId);
    }

    private Path snapshotDir(String snapshotId) {
        return snapshotsDir.resolve(snapshotId);
    }

    private static void refuseQuota(Integer sizeMb) {
        if (sizeMb != null) {
            throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "rootfsSizeMb needs the btrfs storage; overlayfs has no disk quota");
        }
    }

    static BurrowException snapshotNotFound(String snapshotId) {
        return BurrowException.of(ErrorCode.SNAPSHOT_NOT_FOUND, "snapshot " + snapshotId + " does not exist on this host");
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new DriverException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Path canonicalDir(Path dir) {
        try {
            Files.createDirectories(dir);
            // Canonical, because mount points in /proc/self/mountinfo are, and they are compared with it.
            return dir.toRealPath();
        } catch (IOException e) {
            throw new DriverException("cannot create " + dir + ": " + e.getMessage(), e);
        }
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
