package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.driver.DriverException;

/**
 * The btrfs filesystem VM roots live on, at {@code <dataDir>/btrfs}: a plain directory when the data dir
 * already is on btrfs, otherwise the mount point of a sparse loop image {@code <dataDir>/btrfs.img} (taking
 * host space only as VMs write; {@code discard} gives freed blocks back to the host file).
 *
 * <p>The loop image is mounted with {@code mount -o loop}, which sets the loop device's autoclear flag: the
 * device detaches by itself when the filesystem is unmounted, so there is no loop device to track or leak.
 * The mount outlives the server process on purpose (VMs keep running across restarts and their roots are on
 * it); {@link BtrfsStorage#close()} unmounts it only when no VM root is left on it.
 *
 * <p>Also the one place that runs the {@code btrfs} tool.
 */
final class BtrfsFilesystem {
    private static final Logger log = LoggerFactory.getLogger(BtrfsFilesystem.class);
    private static final Duration TIMEOUT = Duration.ofMinutes(2);
    private static final Duration RECLAIM_WAIT = Duration.ofMinutes(5);
    /** Inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
    private static final long SUBVOLUME_ROOT_INODE = 256;
    /** Two storages on one data dir (tests, a second driver instance) must not mount the image twice. */
    private static final ConcurrentHashMap<Path, Object> MOUNT_LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final Path image;
    private volatile boolean quotaEnabled;

    private BtrfsFilesystem(Path root, Path image) {
        this.root = root;
        this.image = image;
    }

    /**
     * Uses the data dir's own btrfs, or makes (first time) and mounts the loop image.
     *
     * @throws DriverException if neither works (no btrfs in the kernel, no loop devices, no btrfs-progs)
     */
    static BtrfsFilesystem open(Path dataDir, long imageSizeMb) {
        Path root = dataDir.resolve("btrfs");
        try {
            if (isBtrfs(dataDir)) {
                Files.createDirectories(root);
                BtrfsFilesystem fs = new BtrfsFilesystem(root.toRealPath(), null);
                fs.quotaEnabled = fs.btrfs("qgroup", "show", fs.root.toString()).run().ok();
                return fs;
            }
            for (String tool : new String[] {"mkfs.btrfs", "btrfs", "losetup"}) {
                if (!HostCommand.available(tool)) throw new DriverException(tool + " is not installed (Debian: btrfs-progs, mount)");
            }
            Files.createDirectories(root);
            BtrfsFilesystem fs = new BtrfsFilesystem(root.toRealPath(), dataDir.toRealPath().resolve("btrfs.img"));
            boolean made = fs.makeImageIfMissing(imageSizeMb);
            try {
                fs.ensureMounted();
            } catch (RuntimeException e) {
                // A loop image that could never be mounted here is only clutter (and 64 GiB in `ls -l`).
                if (made) Files.deleteIfExists(fs.image);
                throw e;
            }
            fs.quotaEnabled = fs.btrfs("qgroup", "show", fs.root.toString()).run().ok();
            return fs;
        } catch (IOException e) {
            throw new DriverException("cannot set up btrfs storage in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    static boolean isBtrfs(Path dir) throws IOException {
        return Files.getFileStore(dir).type().equals("btrfs");
    }

    /** Where subvolumes go; mounted. */
    Path root() {
        ensureMounted();
        return root;
    }

    /** The loop image, empty when the data dir itself is btrfs. */
    Optional<Path> image() {
        return Optional.ofNullable(image);
    }

    boolean isMounted() {
        return image == null || MountTable.read().isMountPoint(root);
    }

    void ensureMounted() {
        if (image == null) return;
        synchronized (MOUNT_LOCKS.computeIfAbsent(root, k -> new Object())) {
            MountTable.Mount current = MountTable.read().mounts().stream()
                    .filter(m -> m.mountPoint().equals(root)).reduce((a, b) -> b).orElse(null);
            if (current != null) {
                if (!current.fsType().equals("btrfs")) {
                    throw new DriverException(root + " has a " + current.fsType() + " filesystem mounted, expected btrfs");
                }
                return;
            }
            if (!Files.isRegularFile(image)) throw new DriverException("btrfs image " + image + " is gone");
            // noatime: with snapshots sharing metadata, every atime update would unshare (copy) a tree block.
            HostCommand.of("mount", "-o", "loop,noatime", image.toString(), root.toString()).timeout(TIMEOUT).check();
        }
    }

    /** Unmounts the loop image (its loop device detaches with it). Returns false if it stays busy. */
    boolean unmount() {
        if (image == null) return true;
        synchronized (MOUNT_LOCKS.computeIfAbsent(root, k -> new Object())) {
            for (int attempt = 1; MountTable.read().isMountPoint(root); attempt++) {
                HostCommand.Result r = HostCommand.of("umount", root.toString()).timeout(TIMEOUT).run();
                if (r.ok()) continue;
                if (attempt >= 5) {
                    // Never lazily: a detached but live filesystem would hide VM data from the next start.
                    log.atWarn().addKeyValue("path", root).log("btrfs storage stays mounted: " + r.describeFailure());
                    return false;
                }
                sleep(100L * attempt);
            }
            return true;
        }
    }

    boolean isSubvolume(Path dir) {
        try {
            return Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)
                    && ((Number) Files.getAttribute(dir, "unix:ino", LinkOption.NOFOLLOW_LINKS)).longValue() == SUBVOLUME_ROOT_INODE
                    && isBtrfs(dir);
        } catch (IOException e) {
            return false;
        }
    }

    void createSubvolume(Path path) {
        btrfs("subvolume", "create", path.toString()).check();
    }

    /** A snapshot of {@code source} at {@code target}: O(1), sharing every extent until either side writes. */
    void snapshot(Path source, Path target, boolean readOnly) {
        if (readOnly) btrfs("subvolume", "snapshot", "-r", source.toString(), target.toString()).check();
        else btrfs("subvolume", "snapshot", source.toString(), target.toString()).check();
    }

    void setReadOnly(Path subvolume) {
        btrfs("property", "set", "-ts", subvolume.toString(), "ro", "true").check();
    }

    /**
     * Deletes a subvolume. The space (and, with quotas, its qgroup) is reclaimed later by the kernel's
     * cleaner, see {@link #reclaimDeleted}. Subvolumes a VM created inside its root (any user may) block the
     * delete; they are deleted first.
     */
    void deleteSubvolume(Path path) {
        HostCommand.Result r = btrfs("subvolume", "delete", path.toString()).run();
        if (r.ok()) return;
        boolean nested = false;
        try (var walk = Files.walk(path)) {
            // Deepest first, so a nested subvolume's own nested ones go before it.
            for (Path p : walk.filter(p -> !p.equals(path) && isSubvolume(p))
                    .sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                btrfs("subvolume", "delete", p.toString()).check();
                nested = true;
            }
        } catch (IOException e) {
            throw new DriverException("cannot delete subvolume " + path + ": " + r.describeFailure() + "; " + e.getMessage(), e);
        }
        if (!nested) throw new DriverException(r.describeFailure());
        btrfs("subvolume", "delete", path.toString()).check();
    }

    /**
     * Waits until the kernel has dropped deleted subvolumes, then removes their qgroups (a qgroup outlives its
     * subvolume until destroyed, and cannot be destroyed before the drop). Newer kernels remove them by
     * themselves; clear-stale covers older ones. Slow (a commit plus the cleaner), so run in the background.
     */
    void reclaimDeleted() {
        if (!isMounted()) return;
        long deadline = System.nanoTime() + RECLAIM_WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            // BTRFS_IOC_SYNC commits and pokes the transaction thread, which wakes the cleaner. Left alone,
            // the cleaner only runs every commit interval (30 s), and `btrfs subvolume sync` just waits for it.
            btrfs("filesystem", "sync", root.toString()).run();
            HostCommand.Result pending = btrfs("subvolume", "list", "-d", root.toString()).run();
            if (!pending.ok() || pending.stdout().isBlank()) break;
            sleep(100);
        }
        if (quotaEnabled) btrfs("qgroup", "clear-stale", root.toString()).run();
    }

    /** Enables qgroups (once per filesystem; the first time waits for the initial accounting scan). */
    synchronized void ensureQuotaEnabled() {
        if (quotaEnabled) return;
        btrfs("quota", "enable", root.toString()).check();
        btrfs("quota", "rescan", "-W", root.toString()).timeout(Duration.ofMinutes(30)).check();
        quotaEnabled = true;
    }

    boolean quotaEnabled() {
        return quotaEnabled;
    }

    /** Caps what a subvolume references (image files included): writes beyond it fail with EDQUOT. */
    void limitReferenced(Path subvolume, long bytes) {
        ensureQuotaEnabled();
        btrfs("qgroup", "limit", Long.toString(bytes), subvolume.toString()).check();
    }

    /** The qgroups currently present, as {@code btrfs qgroup show} prints them (for tests and diagnostics). */
    String qgroups() {
        return btrfs("qgroup", "show", "--raw", root.toString()).check().stdout();
    }

    HostCommand btrfs(String... args) {
        String[] argv = new String[args.length + 1];
        argv[0] = "btrfs";
        System.arraycopy(args, 0, argv, 1, args.length);
        return HostCommand.of(argv).timeout(TIMEOUT);
    }

    /**
     * Creates the sparse image file and its filesystem under a temporary name, then renames it: an image
     * that exists is always a complete filesystem, even after a crash mid-mkfs.
     */
    private boolean makeImageIfMissing(long sizeMb) throws IOException {
        if (Files.exists(image)) return false;
        Path tmp = image.resolveSibling(image.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try (RandomAccessFile f = new RandomAccessFile(tmp.toFile(), "rw")) {
            f.setLength(sizeMb * 1024 * 1024);
        }
        try {
            // Single metadata copy: DUP on a file backed by one host disk only doubles the writes.
            HostCommand.of("mkfs.btrfs", "-q", "-m", "single", "-L", "burrow", tmp.toString()).timeout(TIMEOUT).check();
            Files.move(tmp, image, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return true;
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
