package dev.burrow.core.driver;

import java.nio.channels.SocketChannel;
import java.util.List;

/** Running things in a sandbox's namespaces: commands, interactive processes, loopback connections. */
public interface ProcessFacet {

    /** Runs a command inside a running sandbox and waits for it (or its timeout). */
    ExecResult exec(String vmId, ExecRequest request);

    /**
     * Starts a process inside a running sandbox and returns at once; the caller streams its I/O.
     *
     * @throws dev.burrow.core.error.BurrowException NOT_FOUND for an unknown sandbox, CONFLICT when not running,
     *                                               BAD_REQUEST for an unknown user
     */
    SandboxProcess spawn(String vmId, ProcessSpec spec);

    /**
     * Opens a TCP connection to {@code port} on the sandbox's own loopback (where a dev server usually listens), from
     * the host, for port forwarding. The returned channel is connected and blocking.
     */
    SocketChannel connect(String vmId, int port);

    /**
     * The argv of an SFTP server speaking the protocol on stdin/stdout inside the sandbox (for the SSH gateway's sftp
     * subsystem; {@link #spawn} runs it as the session's user), or empty when there is none.
     */
    List<String> sftpServerCommand();

    /**
     * The network namespace of a running sandbox, for host processes that must reach the network as the VM does (git
     * clones at create), or null when the driver cannot give one (such work is then refused).
     */
    SandboxNetns networkNamespace(String vmId);
}
