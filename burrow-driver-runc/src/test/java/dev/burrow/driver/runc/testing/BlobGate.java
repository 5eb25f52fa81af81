package dev.burrow.driver.runc.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP proxy in front of a {@link TestRegistry} that can hold blob downloads: a slow registry made
 * deterministic. While closed, the first {@code passing} blob requests go through and every later one waits until
 * {@link #open()}; manifests and everything else always pass. Tests use it to see a pull in progress for as long
 * as they need to (a CLI drawing its bar, VMs visible as {@code pulling}, a progress sample mid-pull) instead of
 * hoping that a loopback pull of a few MB is slow enough.
 *
 * <p>It reads the client's side as a sequence of HTTP/1.1 request heads (a pull sends no request bodies) and copies
 * the registry's side as raw bytes, so keep-alive connections work.
 */
public final class BlobGate implements AutoCloseable {
    private final String upstreamHost;
    private final int upstreamPort;
    private final ServerSocket listener;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Object lock = new Object();
    private boolean closed;
    private int passing;
    private final AtomicInteger held = new AtomicInteger();
    private final AtomicInteger passed = new AtomicInteger();

    private BlobGate(TestRegistry registry, int passing) throws IOException {
        String[] hp = registry.hostPort().split(":");
        this.upstreamHost = hp[0];
        this.upstreamPort = Integer.parseInt(hp[1]);
        this.closed = true;
        this.passing = passing;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("blob-gate-accept").start(this::acceptLoop);
    }

    /** A closed gate that lets {@code passing} blob requests through before it holds the rest. */
    public static BlobGate closed(TestRegistry registry, int passing) {
        try {
            return new BlobGate(registry, passing);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code 127.0.0.1:<port>} of the proxy. */
    public String hostPort() {
        return "127.0.0.1:" + listener.getLocalPort();
    }

    /** A reference through the proxy, e.g. {@code ref("team/big:v1")}. */
    public String ref(String repositoryAndTag) {
        return hostPort() + "/" + repositoryAndTag;
    }

    /** Lets every waiting and later blob request through. */
    public void open() {
        synchronized (lock) {
            closed = false;
            lock.notifyAll();
        }
    }

    /** Blob requests waiting at the gate now. */
    public int held() {
        return held.get();
    }

    /** Blob requests that went through. */
    public int passed() {
        return passed.get();
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket upstream = new Socket(upstreamHost, upstreamPort);
                sockets.add(client);
                sockets.add(upstream);
                Thread.ofPlatform().daemon().start(() -> requests(client, upstream));
                Thread.ofPlatform().daemon().start(() -> copy(upstream, client));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void requests(Socket client, Socket upstream) {
        try (client; upstream) {
            InputStream in = client.getInputStream();
            OutputStream out = upstream.getOutputStream();
            byte[] head;
            while ((head = readHead(in)) != null) {
                String requestLine = new String(head, 0, Math.min(head.length, 2048), StandardCharsets.ISO_8859_1)
                        .lines().findFirst().orElse("");
                if (requestLine.startsWith("GET ") && requestLine.contains("/blobs/")) admit();
                out.write(head);
                out.flush();
                long length = contentLength(head);
                if (length > 0) out.write(in.readNBytes((int) length));
            }
        } catch (IOException | InterruptedException e) {
            // the client or the proxy went away
        }
    }

    private void admit() throws InterruptedException {
        synchronized (lock) {
            if (closed && passing > 0) {
                passing--;
            } else {
                held.incrementAndGet();
                try {
                    while (closed) lock.wait();
                } finally {
                    held.decrementAndGet();
                }
            }
        }
        passed.incrementAndGet();
    }

    private static void copy(Socket from, Socket to) {
        try {
            from.getInputStream().transferTo(to.getOutputStream());
        } catch (IOException e) {
            // one side closed
        } finally {
            try {
                to.shutdownOutput();
            } catch (IOException ignored) {
                // already closed
            }
        }
    }

    /** One request head up to and including the empty line, or null at the end of the stream. */
    private static byte[] readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        int b;
        while ((b = in.read()) != -1) {
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            if (matched == 4) return head.toByteArray();
        }
        return null;
    }

    private static long contentLength(byte[] head) {
        for (String line : new String(head, StandardCharsets.ISO_8859_1).split("\r\n")) {
            if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                return Long.parseLong(line.substring(15).trim());
            }
        }
        return 0;
    }

    @Override
    public void close() {
        open();
        try {
            listener.close();
        } catch (IOException ignored) {
            // closing
        }
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }
}
