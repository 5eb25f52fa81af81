package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import com.sun.jna.LastErrorException;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * Connects to a port on a sandbox's own loopback. A socket belongs to the network namespace of the thread that
 * created it, so a short-lived platform thread enters the sandbox's namespace (setns affects only the calling
 * thread), creates and connects the socket, and leaves; the connected channel is then used from anywhere.
 */
public final class NetnsConnector {
    private static final LibC C = LibC.INSTANCE;

    private NetnsConnector() { }

    public static SocketChannel connectLoopback(long pid, String cgroupTag, int port) {
        // The init pid could in theory be recycled between the state read and here: only enter a namespace of
        // a process that is in this VM's cgroup.
        if (!ContainerExec.inCgroup(pid, cgroupTag)) throw new DriverException("sandbox init " + pid + " is gone");
        CompletableFuture<SocketChannel> result = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().name("netns-connect").daemon().start(() -> {
            int own = -1;
            int target = -1;
            try {
                own = C.open("/proc/thread-self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC);
                target = C.open("/proc/" + pid + "/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC);
                C.setns(target, LibC.CLONE_NEWNET);
                SocketChannel ch;
                try {
                    ch = SocketChannel.open(StandardProtocolFamily.INET);
                } finally {
                    // Back before anything else can run on this thread.
                    C.setns(own, LibC.CLONE_NEWNET);
                }
                try {
                    ch.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                    result.complete(ch);
                } catch (IOException e) {
                    ch.close();
                    result.completeExceptionally(BurrowException.of(ErrorCode.PORT_NOT_OPEN,
                            "nothing accepts connections on port " + port + " inside the VM (" + e.getMessage() + ")"));
                }
            } catch (LastErrorException | IOException e) {
                result.completeExceptionally(new DriverException("cannot enter the sandbox's network: " + e.getMessage(), e));
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            } finally {
                if (target >= 0) C.close(target);
                if (own >= 0) C.close(own);
            }
        });
        try {
            return result.get();
        } catch (InterruptedException e) {
            t.interrupt();
            Thread.currentThread().interrupt();
            throw new DriverException("interrupted while connecting");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new DriverException(e.getCause().getMessage(), e.getCause());
        }
    }
}
