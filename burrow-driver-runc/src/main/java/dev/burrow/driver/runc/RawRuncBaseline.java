package dev.burrow.driver.runc;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.driver.runc.internal.HostCommand;
import dev.burrow.driver.runc.internal.OciImageStore;
import dev.burrow.driver.runc.internal.OverlayStorage;
import dev.burrow.driver.runc.internal.RuncSpec;
import dev.burrow.driver.runc.internal.UnpackedImage;
import dev.burrow.driver.runc.internal.VmTools;

/**
 * The floor a create-exec benchmark compares Burrow with: runc driven by hand ({@code run -d}, {@code exec true},
 * {@code delete -f}) on a bundle built by the same generator the driver uses, same image, tools mount included.
 * Everything it makes is under {@code dir} and the cgroup {@code burrow-benchraw}; {@link #close} removes it.
 */
public final class RawRuncBaseline implements AutoCloseable {
    private final Path runcRoot;
    private final Path bundle;
    private final OverlayStorage storage;
    private final String vmId = "benchraw000000000000";

    public RawRuncBaseline(Path dir, Path imageDir, String image) throws Exception {
        Files.createDirectories(dir);
        UnpackedImage img = new OciImageStore(imageDir).prepare(image, (p, f) -> { });
        var config = new RuncDriverConfig(dir, imageDir, dir.resolve("runc-root"), "benchraw", 4096);
        this.runcRoot = config.runcRoot();
        // The bundle is the one Burrow writes, tools mount included, so its source must exist here too.
        VmTools.prepare(dir.resolve("tools"));
        this.storage = new OverlayStorage(dir.resolve("vms"));
        Path rootfs = storage.prepare(vmId, img);
        this.bundle = dir.resolve("bundle");
        RuncSpec.writeBundle(bundle, RuncSpec.build(rootfs,
                new SandboxSpec(vmId, image, 1, 256, 4096, Map.of(), null, vmId), img, config));
    }

    /** One run + exec + delete; milliseconds it took. */
    public double once(int i) {
        String id = "bench-raw-" + i;
        long t0 = System.nanoTime();
        HostCommand.of("runc", "--root", runcRoot.toString(), "run", "-d", "--bundle", bundle.toString(), id)
                .stdoutTo(new File("/dev/null")).check();
        HostCommand.of("runc", "--root", runcRoot.toString(), "exec", id, "true").check();
        HostCommand.of("runc", "--root", runcRoot.toString(), "delete", "-f", id).check();
        return (System.nanoTime() - t0) / 1e6;
    }

    @Override
    public void close() {
        storage.release(vmId);
        HostCommand.of("rm", "-rf", runcRoot.toString()).run();
        String cg = "burrow-benchraw";
        for (String ctrl : new String[] {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                "systemd", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}) {
            new File("/sys/fs/cgroup/" + ctrl + "/" + cg).delete();
        }
    }

    /** Deletes a directory tree without crossing into another filesystem (a mount left under it). */
    public static void deleteTree(Path dir) {
        HostCommand.of("rm", "-rf", "--one-file-system", dir.toString()).run();
    }
}
