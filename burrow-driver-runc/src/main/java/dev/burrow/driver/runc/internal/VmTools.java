package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Host programs Burrow runs inside VMs, mounted read-only at {@link #MOUNT_POINT} in every VM: today OpenSSH's
 * {@code sftp-server}, so SFTP sessions run inside the VM with its root, user and seccomp (a host-side SFTP server
 * rooted in the VM's directory could be led out of it by symlinks the VM made). The program comes with the host's
 * dynamic loader and libraries and is started through that loader, so it runs in any image — a static busybox
 * image or a Debian whose libc differs from the host's.
 */
public final class VmTools {
    private static final Logger log = LoggerFactory.getLogger(VmTools.class);
    public static final String MOUNT_POINT = "/.burrow";
    private static final Path SFTP_SERVER = Path.of("/usr/lib/openssh/sftp-server");
    private static final Pattern LIB = Pattern.compile("=>\\s+(/\\S+)\\s+\\(");
    private static final Pattern LOADER = Pattern.compile("^\\s*(/\\S*ld-linux\\S*)\\s+\\(");

    private final Path dir;
    private final boolean sftp;

    private VmTools(Path dir, boolean sftp) {
        this.dir = dir;
        this.sftp = sftp;
    }

    /** Copies the tools into {@code dir} (replacing an older copy). Missing tools are logged, not fatal. */
    public static VmTools prepare(Path dir) {
        try {
            Files.createDirectories(dir.resolve("lib"));
            if (!Files.isExecutable(SFTP_SERVER)) {
                log.warn("{} not found (Debian package openssh-sftp-server): SFTP into VMs is unavailable", SFTP_SERVER);
                return new VmTools(dir, false);
            }
            HostCommand.Result ldd = HostCommand.of("ldd", SFTP_SERVER.toString()).timeout(Duration.ofSeconds(10)).run();
            if (!ldd.ok()) {
                log.warn("cannot list the libraries of {}: {}", SFTP_SERVER, ldd.describeFailure());
                return new VmTools(dir, false);
            }
            Path loader = null;
            List<Path> libs = new ArrayList<>();
            for (String line : ldd.stdout().split("\n")) {
                Matcher lib = LIB.matcher(line);
                Matcher ld = LOADER.matcher(line);
                if (lib.find()) libs.add(Path.of(lib.group(1)));
                else if (ld.find()) loader = Path.of(ld.group(1));
            }
            if (loader == null) {
                log.warn("no dynamic loader found for {}: SFTP into VMs is unavailable", SFTP_SERVER);
                return new VmTools(dir, false);
            }
            install(loader, dir.resolve("ld.so"));
            for (Path lib : libs) install(lib, dir.resolve("lib").resolve(lib.getFileName().toString()));
            install(SFTP_SERVER, dir.resolve("sftp-server"));
            return new VmTools(dir, true);
        } catch (IOException e) {
            log.warn("cannot prepare VM tools in {}: {}", dir, e.getMessage());
            return new VmTools(dir, false);
        }
    }

    private static void install(Path from, Path to) throws IOException {
        Path tmp = to.resolveSibling(to.getFileName() + ".tmp");
        Files.copy(from, tmp, StandardCopyOption.REPLACE_EXISTING);
        tmp.toFile().setExecutable(true, false);
        tmp.toFile().setReadable(true, false);
        Files.move(tmp, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public Path dir() {
        return dir;
    }

    /** The argv of an SFTP server speaking on stdio inside a VM, or empty when the host has none. */
    public List<String> sftpServer() {
        if (!sftp) return List.of();
        return List.of(MOUNT_POINT + "/ld.so", "--inhibit-cache", "--library-path", MOUNT_POINT + "/lib",
                MOUNT_POINT + "/sftp-server");
    }
}
