package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Memory;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;

import dev.burrow.core.driver.ServiceNotify;

/**
 * The host end of sd_notify for services in VMs (see {@link ServiceNotify}): AF_UNIX datagram sockets, which the
 * JDK cannot open, made through libc with JNA, and one thread that polls them all. Each socket lives in
 * {@code <vm dir>/notify/<key>/notify}, a directory the VM has bind-mounted read-only at
 * {@link ServiceNotify#MOUNT_POINT}; a path in a bind mount names the same socket in every mount namespace. The
 * sockets are bound through {@code /proc/self/fd/<dir fd>/} so a long data directory cannot overflow the 108 bytes
 * of a {@code sockaddr_un}.
 */
public final class NotifyHub implements ServiceNotify, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NotifyHub.class);
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_NONBLOCK = 0x800;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int O_PATH = 0x200000;
    private static final int O_DIRECTORY = 0x10000;
    private static final int O_CLOEXEC = 0x80000;
    private static final short POLLIN = 1;
    private static final int MAX_DATAGRAM = 4096;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PASSCRED = 16;
    private static final int SCM_RIGHTS = 1;
    private static final int SCM_CREDENTIALS = 2;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    /** Where a service's runs are session leaders: {@code sh <BASE>/<name>/exec.sh} (see ServiceScripts). */
    private static final String SERVICES_BASE = dev.burrow.core.service.ServiceScripts.BASE;
    private static final long HEARTBEAT_MS = 1000;

    /** The libc calls of datagram sockets. */
    interface Net extends Library {
        Net INSTANCE = Native.load("c", Net.class);

        int socket(int domain, int type, int protocol) throws LastErrorException;

        int bind(int fd, byte[] addr, int len) throws LastErrorException;

        int poll(int[] fds, NativeLong nfds, int timeoutMs) throws LastErrorException;

        NativeLong recvmsg(int fd, Pointer msghdr, int flags) throws LastErrorException;

        int setsockopt(int fd, int level, int name, int[] value, int len) throws LastErrorException;

        int open(String path, int flags) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    /** One bound socket and the counts of what it received. */
    private static final class Endpoint {
        final String vmId;
        final String service;
        final Path dir;
        final int fd;
        long ready;
        long watchdog;
        long trigger;
        long stopping;

        Endpoint(String vmId, String service, Path dir, int fd) {
            this.vmId = vmId;
            this.service = service;
            this.dir = dir;
            this.fd = fd;
        }
    }

    private final Function<String, Path> vmNotifyDir;
    private final Map<String, Map<String, Endpoint>> byVm = new HashMap<>();
    /** When each VM was last synced: {@link #retain} spares recent ones (the caller's VM list may predate them). */
    private final Map<String, Long> syncedAt = new HashMap<>();
    private static final long RETAIN_GRACE_MS = 15_000;
    private final Thread thread;
    private volatile boolean closed;

    /** {@code vmNotifyDir}: the host directory a VM sees at the mount point (it exists while the VM does). */
    public NotifyHub(Function<String, Path> vmNotifyDir) {
        this.vmNotifyDir = vmNotifyDir;
        this.thread = Thread.ofPlatform().daemon().name("service-notify").unstarted(this::loop);
        thread.start();
    }

    /** Creates the VM's notification directory (before its container starts, so the mount has a source). */
    public static void prepareDir(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Override
    public boolean available(String vmId) {
        return Files.isDirectory(vmNotifyDir.apply(vmId), LinkOption.NOFOLLOW_LINKS);
    }

    @Override
    public synchronized void sync(String vmId, Set<String> serviceNames) {
        if (closed) return;
        Path vmDir = vmNotifyDir.apply(vmId);
        if (!Files.isDirectory(vmDir, LinkOption.NOFOLLOW_LINKS)) {
            forget(vmId);
            if (serviceNames.isEmpty()) return;
            throw new IllegalStateException("VM " + vmId + " has no notification directory (it was started before this "
                    + "server version supported readySignal/watchdogSec; stop and start it)");
        }
        Map<String, Endpoint> eps = byVm.computeIfAbsent(vmId, k -> new HashMap<>());
        for (var it = eps.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!serviceNames.contains(e.getKey())) {
                closeQuietly(e.getValue().fd);
                deleteTree(e.getValue().dir);
                it.remove();
            }
        }
        // directories of services this VM no longer has (also from before a server restart)
        Set<String> keys = new HashSet<>();
        for (String n : serviceNames) keys.add(ServiceNotify.key(n));
        try (var list = Files.list(vmDir)) {
            for (Path p : list.toList()) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) && !keys.contains(p.getFileName().toString())) deleteTree(p);
            }
        } catch (IOException e) {
            log.warn("vm_id={} op=notify-sync cannot list {}: {}", vmId, vmDir, e.getMessage());
        }
        for (String name : serviceNames) {
            if (eps.containsKey(name)) continue;
            eps.put(name, open(vmId, name, vmDir.resolve(ServiceNotify.key(name))));
        }
        beat(vmId, vmDir);
        syncedAt.put(vmId, System.currentTimeMillis());
        if (eps.isEmpty()) byVm.remove(vmId);
    }

    @Override
    public synchronized void retain(Set<String> vmIds) {
        long now = System.currentTimeMillis();
        for (String vmId : new ArrayList<>(byVm.keySet())) {
            if (!vmIds.contains(vmId) && now - syncedAt.getOrDefault(vmId, 0L) > RETAIN_GRACE_MS) forget(vmId);
        }
    }

    /** Closes a VM's sockets; called before its directory is deleted, so nothing is written into it afterwards. */
    public synchronized void forget(String vmId) {
        Map<String, Endpoint> eps = byVm.remove(vmId);
        syncedAt.remove(vmId);
        if (eps != null) for (Endpoint e : eps.values()) closeQuietly(e.fd);
    }

    @Override
    public String statusText(String vmId, String serviceName) {
        Path f = vmNotifyDir.apply(vmId).resolve(ServiceNotify.key(serviceName)).resolve("text");
        try {
            String s = Files.readString(f, StandardCharsets.UTF_8);
            return s.isEmpty() ? null : s;
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        synchronized (this) {
            for (String vmId : new ArrayList<>(byVm.keySet())) {
                // the supervisors stop judging the watchdog at once instead of after the heartbeat went stale
                Path dir = vmNotifyDir.apply(vmId);
                if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) write(dir.resolve("alive"), "0\n");
                forget(vmId);
            }
        }
    }

    private Endpoint open(String vmId, String name, Path dir) {
        try {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Path sock = dir.resolve("notify");
            Files.deleteIfExists(sock);
            int dirFd = Net.INSTANCE.open(dir.toString(), O_PATH | O_DIRECTORY | O_CLOEXEC);
            int fd;
            try {
                fd = Net.INSTANCE.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                try {
                    byte[] path = ("/proc/self/fd/" + dirFd + "/notify").getBytes(StandardCharsets.US_ASCII);
                    byte[] addr = new byte[2 + path.length + 1];
                    addr[0] = (byte) AF_UNIX;
                    System.arraycopy(path, 0, addr, 2, path.length);
                    Net.INSTANCE.bind(fd, addr, addr.length);
                    // every datagram carries its sender's pid (as this, the host's, pid namespace sees it)
                    Net.INSTANCE.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, new int[] {1}, 4);
                } catch (LastErrorException e) {
                    closeQuietly(fd);
                    throw e;
                }
            } finally {
                closeQuietly(dirFd);
            }
            // any user of the VM may send (the service may run as one); the mount is read-only for everything else
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-rw-rw-"));
            Endpoint e = new Endpoint(vmId, name, dir, fd);
            // counts continue where an earlier server left them: the supervisor watches for changes
            try {
                String[] f = Files.readString(dir.resolve("state")).trim().split(" ");
                e.ready = Long.parseLong(f[0]);
                e.watchdog = Long.parseLong(f[1]);
                e.trigger = Long.parseLong(f[2]);
                e.stopping = Long.parseLong(f[3]);
            } catch (IOException | RuntimeException ignored) {
                writeState(e);
            }
            log.debug("vm_id={} service={} op=notify-listen", vmId, name);
            return e;
        } catch (IOException | LastErrorException e) {
            throw new IllegalStateException("VM " + vmId + ": cannot listen for notifications of service " + name + ": "
                    + e.getMessage(), e);
        }
    }

    private void loop() {
        long lastBeat = 0;
        byte[] buf = new byte[MAX_DATAGRAM];
        while (!closed) {
            try {
                List<Endpoint> snapshot = new ArrayList<>();
                synchronized (this) {
                    for (var m : byVm.values()) snapshot.addAll(m.values());
                }
                int[] fds = new int[snapshot.size() * 2];
                for (int i = 0; i < snapshot.size(); i++) {
                    fds[2 * i] = snapshot.get(i).fd;
                    fds[2 * i + 1] = POLLIN;   // events in the low half, revents in the high half (little-endian)
                }
                int n = 0;
                if (snapshot.isEmpty()) Thread.sleep(250);
                else n = Net.INSTANCE.poll(fds, new NativeLong(snapshot.size()), 250);
                if (n > 0) {
                    synchronized (this) {
                        for (int i = 0; i < snapshot.size(); i++) {
                            if ((fds[2 * i + 1] >>> 16) == 0) continue;
                            Endpoint e = snapshot.get(i);
                            Map<String, Endpoint> eps = byVm.get(e.vmId);
                            // closed meanwhile (its fd number may belong to something else now)
                            if (eps == null || eps.get(e.service) != e) continue;
                            drain(e, buf);
                        }
                    }
                }
                long now = System.currentTimeMillis();
                if (now - lastBeat >= HEARTBEAT_MS) {
                    lastBeat = now;
                    synchronized (this) {
                        for (String vmId : byVm.keySet()) beat(vmId, vmNotifyDir.apply(vmId));
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (!closed) log.warn("op=notify-poll failed: {}", e.toString());
                try {
                    Thread.sleep(250);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    /** msghdr (x86-64 and arm64 layout), its iovec, data and control buffers, reused by the one polling thread. */
    private final Memory msg = new Memory(56);
    private final Memory iov = new Memory(16);
    private final Memory data = new Memory(MAX_DATAGRAM);
    private final Memory control = new Memory(256);

    private void drain(Endpoint e, byte[] buf) {
        String text = null;
        boolean changed = false;
        for (int i = 0; i < 1000; i++) {
            iov.setPointer(0, data);
            iov.setLong(8, MAX_DATAGRAM);
            msg.clear();
            msg.setPointer(16, iov);
            msg.setLong(24, 1);
            control.clear();
            msg.setPointer(32, control);
            msg.setLong(40, control.size());
            int len;
            try {
                len = Net.INSTANCE.recvmsg(e.fd, msg, MSG_CMSG_CLOEXEC).intValue();
            } catch (LastErrorException ex) {
                break;   // EAGAIN: drained
            }
            int pid = controlMessages();
            if (len <= 0) continue;
            if (!fromService(pid, e.service)) {
                log.debug("vm_id={} service={} op=notify-reject pid={}: not a process of the service's run", e.vmId,
                        e.service, pid);
                continue;
            }
            data.read(0, buf, 0, len);
            for (String line : new String(buf, 0, len, StandardCharsets.UTF_8).split("\n")) {
                switch (line) {
                    case "READY=1" -> { e.ready++; changed = true; }
                    case "WATCHDOG=1" -> { e.watchdog++; changed = true; }
                    case "WATCHDOG=trigger" -> { e.trigger++; changed = true; }
                    case "STOPPING=1" -> { e.stopping++; changed = true; }
                    default -> {
                        if (line.startsWith("STATUS=")) text = line.substring("STATUS=".length());
                    }
                }
            }
        }
        if (changed) writeState(e);
        if (text != null) {
            String t = text.length() > 1000 ? text.substring(0, 1000) : text;
            write(e.dir.resolve("text"), t);
        }
    }

    /**
     * Walks the control messages of the last {@code recvmsg}: returns the sender's pid from SCM_CREDENTIALS (0 when
     * absent) and closes file descriptors a sender passed along (FDSTORE is not supported; they must not pile up
     * in the server).
     */
    private int controlMessages() {
        int pid = 0;
        long clen = Math.min(msg.getLong(40), control.size());
        long off = 0;
        while (off + 16 <= clen) {
            long len = control.getLong(off);
            if (len < 16 || off + len > clen) break;
            int level = control.getInt(off + 8);
            int type = control.getInt(off + 12);
            if (level == SOL_SOCKET && type == SCM_CREDENTIALS && len >= 16 + 12) pid = control.getInt(off + 16);
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                for (long i = off + 16; i + 4 <= off + len; i += 4) closeQuietly(control.getInt(i));
            }
            off += (len + 7) & ~7L;
        }
        return pid;
    }

    /**
     * Whether host pid {@code pid} belongs to a run of {@code service}: its session leader (each run is started with
     * setsid) is {@code sh /run/burrow/services/<service>/exec.sh}. A sender that has already exited cannot be
     * checked and is refused, as systemd does; so is a process that left the run's session (setsid).
     */
    static boolean fromService(int pid, String service) {
        if (pid <= 0) return false;
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            String session = f[3];
            byte[] cmd = Files.readAllBytes(Path.of("/proc", session, "cmdline"));
            String[] argv = new String(cmd, StandardCharsets.UTF_8).split("\0");
            return argv.length == 2 && (argv[0].equals("sh") || argv[0].endsWith("/sh"))
                    && argv[1].equals(SERVICES_BASE + "/" + service + "/exec.sh");
        } catch (IOException | RuntimeException ex) {
            return false;
        }
    }

    private void writeState(Endpoint e) {
        write(e.dir.resolve("state"), e.ready + " " + e.watchdog + " " + e.trigger + " " + e.stopping + "\n");
    }

    /**
     * Writes the time into the VM's {@code alive} file (only into an existing directory: a deleted VM gets none
     * back); 0 says the listener is going away.
     */
    private void beat(String vmId, Path vmDir) {
        if (!Files.isDirectory(vmDir, LinkOption.NOFOLLOW_LINKS)) return;
        write(vmDir.resolve("alive"), System.currentTimeMillis() / 1000 + "\n");
    }

    private static void write(Path file, String content) {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, content, StandardCharsets.UTF_8);
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            log.debug("op=notify-write {}: {}", file, e.getMessage());
        }
    }

    private static void closeQuietly(int fd) {
        try {
            Net.INSTANCE.close(fd);
        } catch (LastErrorException ignored) {
            // already closed
        }
    }

    private static void deleteTree(Path dir) {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            log.debug("op=notify-delete {}: {}", dir, e.getMessage());
        }
    }
}
