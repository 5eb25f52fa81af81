package dev.burrow.server.net;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import dev.burrow.driver.runc.internal.LibC;

/**
 * Sockets that belong to another network namespace (a VM's), for host-side clients that must be seen as the VM: a
 * socket stays in the namespace of the thread that made it, so a short platform thread enters the namespace, opens
 * the socket and goes back; the socket is then used from any thread.
 */
final class InNetns {
    private InNetns() { }

    static SocketChannel tcp(Path netns) {
        return open(netns, () -> SocketChannel.open(StandardProtocolFamily.INET));
    }

    static DatagramChannel udp(Path netns) {
        return open(netns, () -> DatagramChannel.open(StandardProtocolFamily.INET));
    }

    private static <T> T open(Path netns, Callable<T> make) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            LibC c = LibC.INSTANCE;
            int own = c.open("/proc/thread-self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC);
            int target = c.open(netns.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
            try {
                c.setns(target, LibC.CLONE_NEWNET);
                try {
                    result.complete(make.call());
                } finally {
                    c.setns(own, LibC.CLONE_NEWNET);
                }
            } catch (Exception e) {
                result.completeExceptionally(e);
            } finally {
                c.close(target);
                c.close(own);
            }
        });
        try {
            return result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot open a socket in " + netns + ": " + e.getCause(), e.getCause());
        }
    }

    static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing
        }
    }
}
