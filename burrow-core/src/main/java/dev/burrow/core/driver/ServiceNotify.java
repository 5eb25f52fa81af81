package dev.burrow.core.driver;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Set;

/**
 * The host end of systemd's notification protocol (sd_notify(3)) for services in VMs: one AF_UNIX datagram socket
 * per service ({@code readySignal} or {@code watchdogSec}), in a per-VM host directory that the VM sees read-only at
 * {@link #MOUNT_POINT}. What arrives is kept in files next to the socket, which the service's supervisor inside the
 * VM reads: {@code state} ({@code <READY=1 count> <WATCHDOG=1 count> <WATCHDOG=trigger count> <STOPPING=1 count>},
 * counts that only grow, also across server restarts) and {@code text} (the last {@code STATUS=}). A per-VM
 * {@code alive} file, the host's epoch seconds rewritten every second while the server listens (0 once it stopped
 * listening), tells the supervisor whether a missing WATCHDOG=1 can be judged: pings sent while nobody listens are
 * lost, so the watchdog does not fire then.
 */
public interface ServiceNotify {
    String MOUNT_POINT = "/.burrow-notify";

    /** The per-service directory name: short and fixed-length, so the socket path fits a {@code sockaddr_un}. */
    static String key(String serviceName) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(serviceName.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The socket path inside the VM ({@code NOTIFY_SOCKET}). */
    static String socketPath(String serviceName) {
        return MOUNT_POINT + "/" + key(serviceName) + "/notify";
    }

    /** Whether the VM has the notification directory mounted (VMs started before this existed do not). */
    boolean available(String vmId);

    /**
     * Listens on the sockets of exactly these services of the VM (binding those not yet bound, keeping the counts of
     * earlier runs), and closes and removes the others of that VM.
     */
    void sync(String vmId, Set<String> serviceNames);

    /** Closes every socket of VMs not in {@code vmIds} (their directories stay until the VM is deleted). */
    void retain(Set<String> vmIds);

    /** The last {@code STATUS=} text a service sent, or null. */
    String statusText(String vmId, String serviceName);
}
