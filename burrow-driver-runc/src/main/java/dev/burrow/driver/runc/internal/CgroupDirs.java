package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.HostResource;

/**
 * The cgroup directories of one node's VMs: {@code <hierarchy>/<cgroupParent>/<vmId>} in every mounted
 * cgroup hierarchy (each v1 controller, named v1 hierarchies such as systemd's, and the v2 tree of a
 * hybrid host). runc removes a container's cgroups on delete, but not when it was killed midway or when
 * the parent dirs are shared; these are cleaned with rmdir only, which the kernel refuses while a process
 * is still inside — never by removing files.
 */
public final class CgroupDirs {
    private static final int RMDIR_ATTEMPTS = 20;

    private final String parent;

    public CgroupDirs(String parent) {
        this.parent = parent;
    }

    /** Existing cgroup directories of this VM, one per hierarchy that has it. */
    public List<Path> vmDirs(String vmId) {
        List<Path> dirs = new ArrayList<>();
        for (Path h : MountTable.read().cgroupHierarchies()) {
            Path d = h.resolve(parent).resolve(vmId);
            if (Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) dirs.add(d);
        }
        return dirs;
    }

    /**
     * Removes this VM's cgroup directories (children first). Retries for a short while because the last
     * processes of a killed container leave their cgroup asynchronously.
     */
    public void removeVm(String vmId) {
        for (Path dir : vmDirs(vmId)) removeTree(dir);
    }

    /**
     * Sets {@code pids.max} of the node's parent cgroup in every hierarchy that has the pids controller, creating the
     * parent when missing (runc then places VMs under it), so all VMs of the node together stay under {@code max}
     * however many there are. Written only when it differs, so calling it before every container start is cheap.
     */
    public void limitNodePids(long max) {
        if (max <= 0) return;
        for (Path h : MountTable.read().cgroupHierarchies()) {
            Path d = h.resolve(parent);
            // the pids controller is where a child cgroup gets a pids.max; other hierarchies are left alone
            boolean pids = h.getFileName() != null && h.getFileName().toString().equals("pids") || hasPidsController(h);
            if (!pids) continue;
            try {
                Files.createDirectories(d);
                Path file = d.resolve("pids.max");
                if (!Files.exists(file)) continue;
                String want = Long.toString(max);
                if (!Files.readString(file).strip().equals(want)) Files.writeString(file, want);
            } catch (IOException e) {
                throw new DriverException("cannot limit the processes of this node's VMs: " + e.getMessage(), e);
            }
        }
    }

    private static boolean hasPidsController(Path hierarchy) {
        try {
            Path controllers = hierarchy.resolve("cgroup.subtree_control");
            return Files.exists(controllers) && (" " + Files.readString(controllers).strip() + " ").contains(" pids ");
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes the node's parent directories that hold no VM any more. */
    public void removeParentIfEmpty() {
        for (Path h : MountTable.read().cgroupHierarchies()) {
            Path d = h.resolve(parent);
            if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS) || !childDirs(d).isEmpty()) continue;
            try {
                Files.deleteIfExists(d);
            } catch (IOException e) {
                // A VM created concurrently, or a process placed there by hand: leave it.
            }
        }
    }

    public List<HostResource> list() {
        List<HostResource> found = new ArrayList<>();
        for (Path h : MountTable.read().cgroupHierarchies()) {
            for (Path vm : childDirs(h.resolve(parent))) {
                found.add(new HostResource(HostResource.Kind.CGROUP, vm.getFileName().toString(), vm.toString()));
            }
        }
        return found;
    }

    private static void removeTree(Path dir) {
        List<Path> dirs;
        try (Stream<Path> walk = Files.walk(dir)) {
            // Deepest first: a cgroup with child cgroups cannot be removed.
            dirs = walk.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                    .sorted(Comparator.comparingInt(Path::getNameCount).reversed())
                    .toList();
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new DriverException("cannot list cgroup " + dir + ": " + e.getMessage(), e);
        }
        for (Path d : dirs) rmdir(d);
    }

    private static void rmdir(Path d) {
        IOException last = null;
        for (int attempt = 0; attempt < RMDIR_ATTEMPTS; attempt++) {
            try {
                // On cgroupfs, deleting the directory is rmdir(2): the kernel refuses while tasks remain.
                Files.deleteIfExists(d);
                return;
            } catch (IOException e) {
                last = e;
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        throw new DriverException("cannot remove cgroup " + d + " (processes still inside?): " + last, last);
    }

    private static List<Path> childDirs(Path dir) {
        List<Path> result = new ArrayList<>();
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) return result;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
            s.forEach(result::add);
        } catch (IOException e) {
            throw new DriverException("cannot list cgroup " + dir + ": " + e.getMessage(), e);
        }
        return result;
    }
}
