package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * VM roots as btrfs subvolumes (see {@link BtrfsFilesystem} for where the filesystem comes from). Layout
 * inside it:
 * <ul>
 *   <li>{@code images/<algo>-<hex>} — a read-only subvolume per image digest, filled once from the image's
 *       unpacked root filesystem ({@code cp --reflink=auto}: a reflink when the image dir is on the same
 *       btrfs, a copy otherwise);</li>
 *   <li>{@code vms/<vmId>} — the VM's root: a writable snapshot of its image (or of a snapshot), made in O(1)
 *       whatever the image size; a qgroup limit on it is the VM's disk quota;</li>
 *   <li>{@code snapshots/<id>/disk} — a read-only snapshot of a VM's root, O(1) whatever the VM wrote, with
 *       {@code snapshots/<id>/snapshot.json} (the image config VMs made from it inherit).</li>
 * </ul>
 * Base images and snapshots are built under a {@code .tmp-} name and renamed into place, so a crash never
 * leaves one that looks complete; leftovers are removed when the storage opens. Per VM,
 * {@code <vmsDir>/<vmId>/btrfs.json} records the image and quota; its presence is what {@link #exists} reports.
 *
 * <p>Snapshots and VMs share extents but do not depend on each other: any of them can be deleted at any time.
 *
 * <p>Any process may create a subvolume inside a directory it can write; nested subvolumes would escape the
 * VM's qgroup and its snapshots. The seccomp profile therefore refuses the btrfs subvolume- and
 * snapshot-creating ioctls inside VMs (see {@link SeccompProfile}).
 */
public final class BtrfsStorage implements RootfsStorage {
    private static final Logger log = LoggerFactory.getLogger(BtrfsStorage.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String META = "btrfs.json";
    private static final String SNAPSHOT_META = "snapshot.json";
    private static final String TMP_PREFIX = ".tmp-";
    private static final Pattern DIGEST = Pattern.compile("([a-z0-9]+):([a-f0-9]{32,128})");
    private static final Duration COPY_TIMEOUT = Duration.ofMinutes(30);

    private final Path vmsDir;
    private final BtrfsFilesystem fs;
    private final ConcurrentHashMap<String, Object> imageLocks = new ConcurrentHashMap<>();
    /** Reclaiming deleted subvolumes waits for the kernel's cleaner; it runs behind destroy, not inside it. */
    private final ExecutorService reclaimer = Executors.newSingleThreadExecutor(Thread.ofVirtual().name("btrfs-reclaim").factory());
    private final AtomicBoolean reclaimQueued = new AtomicBoolean();
    private volatile Future<?> lastReclaim;

    private BtrfsStorage(Path vmsDir, BtrfsFilesystem fs) {
        this.vmsDir = vmsDir;
        this.fs = fs;
        Path root = fs.root();
        for (String dir : new String[] {"images", "vms", "snapshots"}) {
            try {
                Files.createDirectories(root.resolve(dir));
            } catch (IOException e) {
                throw new DriverException("cannot create " + root.resolve(dir) + ": " + e.getMessage(), e);
            }
        }
        removeUnfinished();
        // Qgroups of subvolumes deleted just before a crash or a shutdown that did not wait for the cleaner.
        if (fs.quotaEnabled()) scheduleReclaim();
    }

    /**
     * Opens (making it the first time) the btrfs storage of a data dir.
     *
     * @param vmsDir           the driver's per-VM directories (for this storage's metadata file)
     * @param dataDir          where {@code btrfs} (and, unless the data dir is btrfs, {@code btrfs.img}) live
     * @param loopImageSizeMb  size of the sparse loop image, when one is made
     * @throws DriverException if btrfs cannot be used here
     */
    public static BtrfsStorage open(Path vmsDir, Path dataDir, long loopImageSizeMb) {
        try {
            Files.createDirectories(vmsDir);
            return new BtrfsStorage(vmsDir.toRealPath(), BtrfsFilesystem.open(dataDir, loopImageSizeMb));
        } catch (IOException e) {
            throw new DriverException("cannot create " + vmsDir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return "btrfs";
    }

    @Override
    public boolean supportsQuota() {
        return true;
    }

    /** The btrfs filesystem's directory (mount point of the loop image). */
    public Path root() {
        return fs.root();
    }

    /** The loop image file, empty when the data dir itself is on btrfs. */
    public Optional<Path> loopImage() {
        return fs.image();
    }

    @Override
    public Path prepare(String vmId, UnpackedImage image, Integer sizeMb) {
        if (!exists(vmId)) {
            Path volume = volume(vmId);
            // A volume without metadata is from a create that crashed after the snapshot: a snapshot appears
            // whole or not at all, so it can be kept.
            if (!fs.isSubvolume(volume)) fs.snapshot(baseImage(image), volume, false);
            limit(volume, sizeMb);
            writeVmMeta(vmId, ImageConfigJson.toJson(image), sizeMb, null);
        }
        return ensureMounted(vmId);
    }

    @Override
    public Path prepareFromSnapshot(String vmId, String snapshotId, Integer sizeMb) {
        if (!exists(vmId)) {
            if (findSnapshot(snapshotId).isEmpty()) throw OverlayStorage.snapshotNotFound(snapshotId);
            Path volume = volume(vmId);
            if (!fs.isSubvolume(volume)) fs.snapshot(snapshotDisk(snapshotId), volume, false);
            limit(volume, sizeMb);
            JsonNode image = readJson(snapshotDir(snapshotId).resolve(SNAPSHOT_META)).get("image");
            writeVmMeta(vmId, image, sizeMb, snapshotId);
        }
        return ensureMounted(vmId);
    }

    @Override
    public Path ensureMounted(String vmId) {
        Path volume = volume(vmId);
        if (!fs.isSubvolume(volume)) throw new DriverException("VM " + vmId + " has no root subvolume at " + volume);
        return volume;
    }

    @Override
    public boolean exists(String vmId) {
        return Files.exists(vmsDir.resolve(vmId).resolve(META), LinkOption.NOFOLLOW_LINKS);
    }

    @Override
    public void release(String vmId) {
        Path meta = vmsDir.resolve(vmId).resolve(META);
        if (fs.image().map(Files::isRegularFile).orElse(true)) {
            Path volume = volume(vmId);
            if (fs.isSubvolume(volume)) {
                fs.deleteSubvolume(volume);
                scheduleReclaim();
            } else if (Files.exists(volume, LinkOption.NOFOLLOW_LINKS)) {
                throw new DriverException(volume + " is not a subvolume; refusing to delete it");
            }
        }
        try {
            Files.deleteIfExists(meta);
            Files.deleteIfExists(meta.resolveSibling(META + ".tmp"));
        } catch (IOException e) {
            throw new DriverException("cannot delete btrfs metadata of VM " + vmId + ": " + e.getMessage(), e);
        }
    }

    @Override
    public SnapshotInfo snapshot(String vmId, String snapshotId) {
        Optional<SnapshotInfo> existing = findSnapshot(snapshotId);
        if (existing.isPresent()) return existing.get();
        Path source = ensureMounted(vmId);
        Path target = snapshotDir(snapshotId);
        // Only a crash leaves an incomplete snapshot directory (the rename below is the last step).
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) deleteSnapshot(snapshotId);
        Path tmp = fs.root().resolve("snapshots").resolve(TMP_PREFIX + snapshotId + "-" + UUID.randomUUID().toString().substring(0, 8));
        return SnapshotPublication.publish(vmId, snapshotId, tmp, target, dir -> {
            ObjectNode meta = JSON.createObjectNode();
            JsonNode vmMeta = readJson(vmsDir.resolve(vmId).resolve(META));
            if (vmMeta.hasNonNull("image")) meta.set("image", vmMeta.get("image"));
            meta.put("sourceVmId", vmId);
            JSON.writeValue(dir.resolve(SNAPSHOT_META).toFile(), meta);
            fs.snapshot(source, dir.resolve("disk"), true);
        }, this::removeSnapshotDir, () -> findSnapshot(snapshotId));
    }

    @Override
    public Optional<SnapshotInfo> findSnapshot(String snapshotId) {
        Path dir = snapshotDir(snapshotId);
        Path meta = dir.resolve(SNAPSHOT_META);
        if (!Files.isRegularFile(meta, LinkOption.NOFOLLOW_LINKS) || !fs.isSubvolume(dir.resolve("disk"))) return Optional.empty();
        JsonNode image = readJson(meta).get("image");
        return Optional.of(new SnapshotInfo(snapshotId, image == null || image.isNull() ? null : ImageConfigJson.fromJson(image)));
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        Path dir = snapshotDir(snapshotId);
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        removeSnapshotDir(dir);
    }

    @Override
    public List<HostResource> list() {
        List<HostResource> found = new ArrayList<>();
        if (!fs.isMounted()) return found;
        for (Path v : children(fs.root().resolve("vms"))) {
            if (fs.isSubvolume(v)) found.add(new HostResource(HostResource.Kind.VOLUME, v.getFileName().toString(), v.toString()));
        }
        for (Path s : children(fs.root().resolve("snapshots"))) {
            String id = s.getFileName().toString();
            if (!id.startsWith(TMP_PREFIX) && findSnapshot(id).isPresent()) {
                found.add(new HostResource(HostResource.Kind.SNAPSHOT, id, s.toString()));
            }
        }
        return found;
    }

    @Override
    public java.util.Map<String, ImageUsers> imageUsers() {
        java.util.Map<String, ImageUsers> users = new java.util.HashMap<>();
        if (!fs.isMounted()) return users;
        for (Path v : children(vmsDir)) count(users, v.resolve(META), true);
        for (Path s : children(fs.root().resolve("snapshots"))) {
            if (!s.getFileName().toString().startsWith(TMP_PREFIX)) count(users, s.resolve(SNAPSHOT_META), false);
        }
        return users;
    }

    private static void count(java.util.Map<String, ImageUsers> users, Path meta, boolean vm) {
        if (!Files.isRegularFile(meta, LinkOption.NOFOLLOW_LINKS)) return;
        String digest = readJson(meta).path("image").path("digest").asText("");
        if (!digest.isEmpty()) users.merge(digest, new ImageUsers(0, 0).plus(vm), (a, b) -> a.plus(vm));
    }

    /** A VM root and a snapshot are snapshots of the base subvolume, sharing extents but not depending on it. */
    @Override
    public boolean rootsNeedImage() {
        return false;
    }

    @Override
    public void releaseImage(String digest) {
        var m = DIGEST.matcher(digest);
        if (!m.matches() || !fs.isMounted()) return;
        Path base = fs.root().resolve("images").resolve(m.group(1) + "-" + m.group(2));
        synchronized (imageLocks.computeIfAbsent(digest, k -> new Object())) {
            if (fs.isSubvolume(base)) {
                fs.deleteSubvolume(base);
                scheduleReclaim();
            }
        }
    }

    /** Waits for background reclaiming of deleted subvolumes (and their qgroups) to finish. */
    public void awaitReclaim() {
        awaitReclaim(Duration.ofMinutes(10));
    }

    private void awaitReclaim(Duration max) {
        Future<?> f = lastReclaim;
        if (f == null) return;
        try {
            f.get(max.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            log.atWarn().log("reclaiming deleted btrfs subvolumes failed: " + e);
        }
    }

    /** The qgroups of the filesystem as {@code btrfs qgroup show --raw} prints them (tests, diagnostics). */
    public String qgroups() {
        return fs.qgroups();
    }

    /**
     * Finishes reclaiming, then unmounts the loop image (which detaches its loop device) unless a VM root is
     * on it: VMs keep running across server restarts and must keep their roots. Base images and snapshots stay
     * in the image file for the next start.
     */
    @Override
    public void close() {
        // Bounded: a shutdown should not hang on the cleaner; what is left is reclaimed at the next open.
        awaitReclaim(Duration.ofSeconds(30));
        reclaimer.shutdown();
        if (fs.image().isEmpty() || !fs.isMounted()) return;
        boolean vmsLeft = children(fs.root().resolve("vms")).stream().anyMatch(fs::isSubvolume);
        if (vmsLeft) {
            log.atInfo().addKeyValue("path", fs.root()).log("btrfs storage stays mounted: VM roots are on it");
            return;
        }
        fs.unmount();
    }

    /**
     * The read-only base subvolume of an image, filled the first time the digest is used. Concurrent creates
     * of one new image wait for a single copy; the copy goes to a temporary subvolume that only becomes
     * {@code images/<digest>} (by rename) once complete and read-only.
     */
    private Path baseImage(UnpackedImage image) {
        var m = image.digest() == null ? null : DIGEST.matcher(image.digest());
        if (m == null || !m.matches()) throw new DriverException("image " + image.ref() + " has no usable digest: " + image.digest());
        Path images = fs.root().resolve("images");
        Path base = images.resolve(m.group(1) + "-" + m.group(2));
        if (fs.isSubvolume(base)) return base;
        synchronized (imageLocks.computeIfAbsent(image.digest(), k -> new Object())) {
            if (fs.isSubvolume(base)) return base;
            Path rootfs = image.rootfs();
            if (rootfs == null || !Files.isDirectory(rootfs)) {
                throw new DriverException("image " + image.ref() + " has no root filesystem at " + rootfs);
            }
            long t0 = System.nanoTime();
            Path tmp = images.resolve(TMP_PREFIX + base.getFileName() + "-" + UUID.randomUUID().toString().substring(0, 8));
            fs.createSubvolume(tmp);
            try {
                HostCommand.of("cp", "-a", "--reflink=auto", rootfs.toAbsolutePath() + "/.", tmp.toString())
                        .timeout(COPY_TIMEOUT).check();
                fs.setReadOnly(tmp);
                Files.move(tmp, base, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException | RuntimeException e) {
                deleteQuietly(tmp);
                // Another process on this data dir won the race: its copy is as good as ours.
                if (fs.isSubvolume(base)) return base;
                if (e instanceof RuntimeException re) throw re;
                throw new DriverException("cannot make base subvolume of image " + image.ref() + ": " + e.getMessage(), e);
            }
            log.atInfo().addKeyValue("image", image.ref()).addKeyValue("digest", image.digest())
                    .addKeyValue("duration_ms", (System.nanoTime() - t0) / 1_000_000).log("image copied into btrfs base subvolume");
            return base;
        }
    }

    @Override
    public void setQuota(String vmId, int sizeMb) {
        if (!exists(vmId)) throw new DriverException("VM " + vmId + " has no disk here");
        limit(volume(vmId), sizeMb);
        // the metadata follows the limit, so a later reader (a snapshot of this VM) sees the quota in force
        Path meta = vmsDir.resolve(vmId).resolve(META);
        ObjectNode node = (ObjectNode) readJson(meta);
        node.put("rootfsSizeMb", sizeMb);
        try {
            AtomicJson.write(meta, node);
        } catch (IOException e) {
            throw new DriverException("cannot write btrfs metadata of VM " + vmId + ": " + e.getMessage(), e);
        }
    }

    private void limit(Path volume, Integer sizeMb) {
        if (sizeMb == null) return;
        if (sizeMb <= 0) throw BurrowException.of(ErrorCode.INVALID_ROOTFS_SIZE, "rootfsSizeMb must be positive: " + sizeMb);
        fs.limitReferenced(volume, sizeMb * 1024L * 1024L);
    }

    private void writeVmMeta(String vmId, JsonNode image, Integer sizeMb, String snapshotId) {
        Path dir = vmsDir.resolve(vmId);
        try {
            Files.createDirectories(dir);
            ObjectNode meta = JSON.createObjectNode();
            meta.put("volume", volume(vmId).toString());
            if (image != null && !image.isNull()) meta.set("image", image);
            if (sizeMb != null) meta.put("rootfsSizeMb", sizeMb);
            if (snapshotId != null) meta.put("snapshotId", snapshotId);
            AtomicJson.write(dir.resolve(META), meta);
        } catch (IOException e) {
            throw new DriverException("cannot write btrfs metadata of VM " + vmId + ": " + e.getMessage(), e);
        }
    }

    /** Deletes a snapshot directory, complete or not: its subvolume, then its metadata, then itself. */
    private void removeSnapshotDir(Path dir) {
        Path disk = dir.resolve("disk");
        if (fs.isSubvolume(disk)) {
            fs.deleteSubvolume(disk);
            scheduleReclaim();
        }
        try {
            Files.deleteIfExists(dir.resolve(SNAPSHOT_META));
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new DriverException("cannot delete snapshot directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Leftovers of base images and snapshots a crash interrupted (nothing refers to a {@code .tmp-} name). */
    private void removeUnfinished() {
        for (Path p : children(fs.root().resolve("images"))) {
            if (p.getFileName().toString().startsWith(TMP_PREFIX)) deleteQuietly(p);
        }
        for (Path p : children(fs.root().resolve("snapshots"))) {
            if (p.getFileName().toString().startsWith(TMP_PREFIX)) removeSnapshotDir(p);
        }
    }

    private void scheduleReclaim() {
        if (!reclaimQueued.compareAndSet(false, true)) return;
        try {
            lastReclaim = reclaimer.submit(() -> {
                reclaimQueued.set(false);
                try {
                    fs.reclaimDeleted();
                } catch (RuntimeException e) {
                    log.atWarn().log("reclaiming deleted btrfs subvolumes failed: " + e.getMessage());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closed: the next open's deletes (or the kernel) reclaim it
            reclaimQueued.set(false);
        }
    }

    private void deleteQuietly(Path subvolume) {
        try {
            if (fs.isSubvolume(subvolume)) fs.deleteSubvolume(subvolume);
        } catch (RuntimeException e) {
            log.atWarn().addKeyValue("path", subvolume).log("cannot delete subvolume: " + e.getMessage());
        }
    }

    @Override
    public long usedBytes(String vmId) {
        return exclusiveBytes(volume(vmId));
    }

    @Override
    public long snapshotUsedBytes(String snapshotId) {
        return exclusiveBytes(snapshotDisk(snapshotId));
    }

    private static long exclusiveBytes(Path volume) {
        if (!Files.isDirectory(volume, LinkOption.NOFOLLOW_LINKS)) return -1;
        // "Exclusive" counts extents not shared with the base image subvolume: what the VM itself wrote.
        var r = HostCommand.of("btrfs", "filesystem", "du", "-s", "--raw", volume.toString()).run();
        if (!r.ok()) return -1;
        String[] lines = r.stdout().strip().split("\n");
        String[] cols = lines[lines.length - 1].trim().split("\\s+");
        try {
            return Long.parseLong(cols[1]);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private Path volume(String vmId) {
        return fs.root().resolve("vms").resolve(vmId);
    }

    private Path snapshotDir(String snapshotId) {
        return fs.root().resolve("snapshots").resolve(snapshotId);
    }

    private Path snapshotDisk(String snapshotId) {
        return snapshotDir(snapshotId).resolve("disk");
    }

    private static List<Path> children(Path dir) {
        List<Path> result = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            s.forEach(result::add);
        } catch (java.nio.file.NoSuchFileException e) {
            return result;
        } catch (IOException e) {
            throw new DriverException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return result;
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new DriverException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
