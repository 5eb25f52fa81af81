package dev.burrow.server.ssh;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.sshd.client.future.DefaultOpenFuture;
import org.apache.sshd.client.future.OpenFuture;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.channel.ChannelFactory;
import org.apache.sshd.common.channel.ChannelOutputStream;
import org.apache.sshd.common.future.SshFutureListener;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.channel.exception.SshChannelOpenException;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.server.channel.AbstractServerChannel;
import org.apache.sshd.server.session.ServerSession;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.lifecycle.LifecycleCoordinator;

/**
 * {@code ssh -L local:localhost:port}: a {@code direct-tcpip} channel to a port on the VM's own loopback. Only
 * loopback targets are accepted — the gateway runs on the host and must not become a way into the host's
 * networks. Client data is written to the VM from a writer thread and the SSH window is released only after
 * it was written, so a slow reader inside the VM throttles the client rather than the server's memory.
 */
final class VmPortForwardChannel extends AbstractServerChannel {
    static final Set<String> LOOPBACK = Set.of("localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "ip6-localhost");
    private static final byte[] EOF = new byte[0];

    private final SshGateway gateway;
    private final LinkedBlockingQueue<byte[]> toVm = new LinkedBlockingQueue<>();
    private final AtomicBoolean started = new AtomicBoolean();
    private volatile SocketChannel socket;
    private volatile SessionActivity activity;

    VmPortForwardChannel(SshGateway gateway) {
        super("", java.util.List.of(), null);
        this.gateway = gateway;
    }

    static ChannelFactory factory(SshGateway gateway) {
        return new ChannelFactory() {
            @Override
            public String getName() {
                return "direct-tcpip";
            }

            @Override
            public Channel createChannel(Session session) {
                return new VmPortForwardChannel(gateway);
            }
        };
    }

    @Override
    protected OpenFuture doInit(Buffer buffer) {
        String host = buffer.getString();
        int port = buffer.getInt();
        OpenFuture f = new DefaultOpenFuture(this, futureLock) {
            // The connection service sends the open confirmation from the first listener it adds; VM data may
            // only flow after that, so the relay starts after that listener has run.
            @Override
            public OpenFuture addListener(SshFutureListener<OpenFuture> listener) {
                return super.addListener(done -> {
                    listener.operationComplete(done);
                    if (done.isOpened() && started.compareAndSet(false, true)) startRelay();
                });
            }
        };
        ServerSession session = (ServerSession) getSession();
        SshGateway.Grant grant = gateway.recheck(session);
        if (grant == null) {
            f.setException(new SshChannelOpenException(getChannelId(), SshConstants.SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, "access revoked"));
            return f;
        }
        if (!LOOPBACK.contains(host.toLowerCase(java.util.Locale.ROOT))) {
            f.setException(new SshChannelOpenException(getChannelId(), SshConstants.SSH_OPEN_ADMINISTRATIVELY_PROHIBITED,
                    "only ports on the VM's localhost can be forwarded, not " + host));
            return f;
        }
        LifecycleCoordinator lifecycle = gateway.lifecycle();
        activity = grant.activity();
        try {
            socket = lifecycle.connect(grant.login().vmId(), port, "ssh port forward");
        } catch (BurrowException e) {
            f.setException(new SshChannelOpenException(getChannelId(), SshConstants.SSH_OPEN_CONNECT_FAILED, e.getMessage()));
            return f;
        } catch (RuntimeException e) {
            f.setException(new SshChannelOpenException(getChannelId(), SshConstants.SSH_OPEN_CONNECT_FAILED,
                    "cannot connect to port " + port + " in the VM"));
            return f;
        }
        signalChannelOpenSuccess();
        f.setOpened();
        return f;
    }

    private void startRelay() {
        SocketChannel s = socket;
        Thread.ofVirtual().name("fwd-to-vm").start(() -> {
            try {
                while (true) {
                    byte[] chunk = toVm.take();
                    if (chunk == EOF) {
                        s.shutdownOutput();
                        return;
                    }
                    ByteBuffer bb = ByteBuffer.wrap(chunk);
                    while (bb.hasRemaining()) s.write(bb);
                    getLocalWindow().release(chunk.length);
                    activity.networkTraffic();
                }
            } catch (IOException | InterruptedException e) {
                close(true);
            }
        });
        Thread.ofVirtual().name("fwd-from-vm").start(() -> {
            OutputStream out = new ChannelOutputStream(this, getRemoteWindow(), log, SshConstants.SSH_MSG_CHANNEL_DATA, true);
            ByteBuffer bb = ByteBuffer.allocate(32 * 1024);
            try {
                while (s.read(bb) >= 0) {
                    bb.flip();
                    out.write(bb.array(), 0, bb.limit());
                    out.flush();
                    bb.clear();
                    activity.networkTraffic();
                }
                sendEof();
            } catch (IOException e) {
                // VM side or client side went away
            } finally {
                close(false);
            }
        });
    }

    @Override
    protected void doWriteData(byte[] data, int off, long len) {
        toVm.add(java.util.Arrays.copyOfRange(data, off, off + (int) len));
    }

    @Override
    protected void doWriteExtendedData(byte[] data, int off, long len) {
        throw new UnsupportedOperationException("direct-tcpip has no extended data");
    }

    @Override
    public void handleEof() throws IOException {
        super.handleEof();
        toVm.add(EOF);
    }

    @Override
    protected void preClose() {
        SocketChannel s = socket;
        if (s != null) {
            try {
                s.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
        super.preClose();
    }
}
