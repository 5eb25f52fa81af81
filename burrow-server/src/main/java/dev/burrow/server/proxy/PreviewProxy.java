package dev.burrow.server.proxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.vm.PortMapping;
import dev.burrow.core.vm.Vm;

/**
 * The preview proxy: HTTP requests for a VM's exposed ports, on a listener of its own. A request is routed by its
 * Host, {@code {port}-{vmId}.{base-domain}} (wildcard DNS), or by its path, {@code /vm/{vmId}/{port}/…} (no DNS
 * needed; the prefix is removed before the request reaches the VM). Once routed, bytes are copied both ways
 * untouched, so keep-alive, streaming responses and WebSocket upgrades pass through.
 *
 * <p>A port is private unless exposed with {@code public: true}: the request then needs the port's preview token,
 * in the {@code X-Burrow-Preview-Token} header, in the {@code burrow_preview} cookie, or once as the
 * {@code burrow_token} query parameter (answered with a redirect that sets the cookie and drops the parameter).
 * Connecting wakes a suspended VM; proxied traffic counts as activity on the VM and sets its last network activity.
 *
 * <p>A request whose Host is a custom domain mapped to a VM ({@link DomainMappings}) goes to the mapping's port, with
 * no token (a mapped domain is public). With TLS configured, a second listener speaks HTTPS (certificates by SNI,
 * {@link PreviewTls}) and routes exactly like the plain one; the VM gets {@code X-Forwarded-Proto: https}.
 */
public final class PreviewProxy implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PreviewProxy.class);
    private static final int MAX_HEAD = 32 * 1024;
    private static final int HEAD_TIMEOUT_MS = 15_000;
    private static final Pattern HOST_ROUTE = Pattern.compile("(\\d{1,5})-([a-z0-9]{20})");
    private static final Pattern PATH_ROUTE = Pattern.compile("/vm/([a-z0-9]{20})/(\\d{1,5})(/[^?#]*)?(\\?.*)?");
    public static final String TOKEN_HEADER = "x-burrow-preview-token";
    public static final String TOKEN_COOKIE = "burrow_preview";
    public static final String TOKEN_PARAM = "burrow_token";

    private final LifecycleCoordinator lifecycle;
    private final PreviewTokens tokens;
    private final DomainMappings domains;
    private final NetworkActivity activity;
    private final String baseDomain;
    private final ServerSocket listener;
    private final Thread acceptor;
    /** Null without TLS. */
    private final ServerSocket tlsListener;
    private final Thread tlsAcceptor;
    private volatile boolean closed;

    /**
     * @param tls     null: plain HTTP only
     * @param tlsPort the HTTPS listener's port (0: any free one); ignored without {@code tls}
     */
    public PreviewProxy(LifecycleCoordinator lifecycle, PreviewTokens tokens, DomainMappings domains, NetworkActivity activity,
                        String host, int port, String baseDomain, javax.net.ssl.SSLContext tls, int tlsPort) {
        this.lifecycle = lifecycle;
        this.tokens = tokens;
        this.domains = domains;
        this.activity = activity;
        this.baseDomain = baseDomain.toLowerCase(Locale.ROOT);
        try {
            this.listener = bind(new ServerSocket(), host, port);
        } catch (IOException e) {
            throw new IllegalStateException("cannot listen for previews on " + host + ":" + port + ": " + e.getMessage(), e);
        }
        ServerSocket secure = null;
        if (tls != null) {
            try {
                secure = bind(tls.getServerSocketFactory().createServerSocket(), host, tlsPort);
            } catch (IOException | RuntimeException e) {
                close(listener);
                throw new IllegalStateException("cannot listen for HTTPS previews on " + host + ":" + tlsPort + ": " + e.getMessage(), e);
            }
        }
        this.tlsListener = secure;
        this.acceptor = Thread.ofPlatform().daemon().name("preview-proxy").start(() -> accept(listener, false));
        this.tlsAcceptor = secure == null ? null
                : Thread.ofPlatform().daemon().name("preview-proxy-tls").start(() -> accept(tlsListener, true));
    }

    private static ServerSocket bind(ServerSocket s, String host, int port) {
        try {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(host, port));
            return s;
        } catch (IOException e) {
            close(s);
            throw new IllegalStateException("cannot listen for previews on " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    private static void close(ServerSocket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing
        }
    }

    public int port() {
        return listener.getLocalPort();
    }

    /** The HTTPS listener's port, or -1 without TLS. */
    public int tlsPort() {
        return tlsListener == null ? -1 : tlsListener.getLocalPort();
    }

    /** The host-routed URL of a VM port (the listener's port appended when it is not 80). */
    public String hostUrl(String vmId, int port) {
        return "http://" + port + "-" + vmId + "." + baseDomain + (port() == 80 ? "" : ":" + port()) + "/";
    }

    /** The host-routed HTTPS URL of a VM port, or null without TLS. */
    public String hostHttpsUrl(String vmId, int port) {
        return tlsListener == null ? null : "https://" + port + "-" + vmId + "." + baseDomain
                + (tlsPort() == 443 ? "" : ":" + tlsPort()) + "/";
    }

    /** The URLs a custom domain is served at: plain HTTP and, with TLS, HTTPS (null otherwise). */
    public String domainUrl(String domain, boolean https) {
        if (https) return tlsListener == null ? null : "https://" + domain + (tlsPort() == 443 ? "" : ":" + tlsPort()) + "/";
        return "http://" + domain + (port() == 80 ? "" : ":" + port()) + "/";
    }

    /** The path-routed URL of a VM port on {@code listenHost}. */
    public String pathUrl(String listenHost, String vmId, int port) {
        return "http://" + listenHost + ":" + port() + "/vm/" + vmId + "/" + port + "/";
    }

    private void accept(ServerSocket on, boolean secure) {
        while (!closed) {
            try {
                Socket client = on.accept();
                Thread.ofVirtual().name("preview-conn").start(() -> serve(client, secure));
            } catch (IOException e) {
                if (!closed) log.warn("preview proxy accept failed: {}", e.getMessage());
            }
        }
    }

    private record Head(String method, String target, String version, List<String[]> headers, byte[] rest) {
        Optional<String> header(String name) {
            for (String[] h : headers) if (h[0].equalsIgnoreCase(name)) return Optional.of(h[1]);
            return Optional.empty();
        }
    }

    /** {@code custom}: reached by a mapped domain, {@code port} is the mapping's vmPort. */
    private record Route(String vmId, int port, String target, boolean byPath, boolean custom) { }

    private void serve(Socket client, boolean secure) {
        try (client) {
            client.setSoTimeout(HEAD_TIMEOUT_MS);
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            Head head = readHead(in);
            if (head == null) return;
            Route route = route(head);
            if (route == null) {
                respond(out, 404, "Not Found", "no preview here: use {port}-{vmId}." + baseDomain
                        + ", /vm/{vmId}/{port}/ or a domain mapped to a VM\n", null);
                return;
            }
            Vm vm;
            PortMapping mapping;
            try {
                vm = lifecycle.get(route.vmId());
                mapping = vm.spec().ports().stream().filter(p -> p.port() == route.port()).findFirst().orElse(null);
            } catch (BurrowException e) {
                respond(out, 404, "Not Found", "no such VM\n", null);
                return;
            }
            if (route.custom()) {
                // a mapped domain: public; vmPort is an exposed port's number (its targetPort is used) or a VM port
                mapping = new PortMapping(route.port(), mapping != null ? mapping.targetPort() : route.port(), true);
            }
            if (mapping == null) {
                respond(out, 404, "Not Found", "VM " + vm.id() + " exposes no port " + route.port() + "\n", null);
                return;
            }
            String expected = tokens.token(vm.id(), mapping.port());
            String target = route.target();
            final PortMapping exposed = mapping;
            if (!mapping.publicAccess()) {
                Optional<String> fromQuery = queryParam(target, TOKEN_PARAM);
                if (fromQuery.isPresent() && PreviewTokens.same(fromQuery.get(), expected)) {
                    // a signed link: remember it in a cookie and send the browser on without the token in the URL
                    String location = (route.byPath() ? "/vm/" + vm.id() + "/" + mapping.port() : "") + withoutParam(target, TOKEN_PARAM);
                    respond(out, 302, "Found", "", List.of("Location: " + location,
                            "Set-Cookie: " + TOKEN_COOKIE + "=" + expected + "; Path=/; HttpOnly; SameSite=Lax"));
                    return;
                }
                boolean ok = head.header(TOKEN_HEADER).map(t -> PreviewTokens.same(t.strip(), expected)).orElse(false)
                        || cookie(head, TOKEN_COOKIE).map(t -> PreviewTokens.same(t, expected)).orElse(false);
                if (!ok) {
                    respond(out, 401, "Unauthorized", "this preview is private: send its token (" + TOKEN_HEADER
                            + " header, " + TOKEN_COOKIE + " cookie or ?" + TOKEN_PARAM + "=)\n", null);
                    return;
                }
            }
            SocketChannel upstream;
            try {
                upstream = lifecycle.connect(vm.id(), mapping.targetPort(), "proxy");
            } catch (BurrowException e) {
                // nothing listening is the app's problem (502); a VM that is stopped or busy is unavailable (503)
                int status = e.kind() == BurrowException.Kind.NOT_FOUND ? 404 : ErrorCode.PORT_NOT_OPEN.name().equals(e.code()) ? 502 : 503;
                String reason = status == 404 ? "Not Found" : status == 502 ? "Bad Gateway" : "Service Unavailable";
                respond(out, status, reason, e.getMessage() + "\n", null);
                return;
            } catch (RuntimeException e) {
                respond(out, 502, "Bad Gateway", "cannot reach port " + mapping.targetPort() + " in the VM\n", null);
                return;
            }
            client.setSoTimeout(0);
            try (upstream; Socket up = upstream.socket()) {
                up.getOutputStream().write(rewrite(head, target, route.byPath(), secure));
                if (head.rest().length > 0) up.getOutputStream().write(head.rest());
                pipe(vm.id(), in, out, upstream, exposed.targetPort());
            }
        } catch (SocketTimeoutException e) {
            // a client that never finished its request head
        } catch (IOException e) {
            log.debug("preview connection ended: {}", e.getMessage());
        } catch (RuntimeException e) {
            log.warn("preview connection failed: {}", e.getMessage());
        }
    }

    /** Copies both ways until both sides are done; counts network activity on the VM while bytes move. */
    private void pipe(String vmId, InputStream clientIn, OutputStream clientOut, SocketChannel upstream, int vmPort)
            throws IOException {
        String cause = "proxy to port " + vmPort;
        Runnable activity = () -> this.activity.traffic(vmId, cause);
        activity.run();
        InputStream upIn = java.nio.channels.Channels.newInputStream(upstream);
        Thread toVm = Thread.ofVirtual().start(() -> {
            byte[] buf = new byte[16 * 1024];
            try {
                int n;
                while ((n = clientIn.read(buf)) > 0) {
                    ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
                    while (b.hasRemaining()) upstream.write(b);
                    activity.run();
                }
                upstream.shutdownOutput();
            } catch (IOException e) {
                // the other direction notices the closed connection
            }
        });
        byte[] buf = new byte[16 * 1024];
        try {
            int n;
            while ((n = upIn.read(buf)) > 0) {
                clientOut.write(buf, 0, n);
                clientOut.flush();
                activity.run();
            }
        } finally {
            try {
                toVm.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private Route route(Head head) {
        String host = head.header("host").orElse("").toLowerCase(Locale.ROOT);
        int colon = host.lastIndexOf(':');
        if (colon > 0 && !host.endsWith("]")) host = host.substring(0, colon);
        if (host.endsWith("." + baseDomain)) {
            Matcher m = HOST_ROUTE.matcher(host.substring(0, host.length() - baseDomain.length() - 1));
            if (m.matches()) return new Route(m.group(2), Integer.parseInt(m.group(1)), head.target(), false, false);
        }
        var custom = domains.route(host);
        if (custom.isPresent()) return new Route(custom.get().vmId(), custom.get().vmPort(), head.target(), false, true);
        Matcher p = PATH_ROUTE.matcher(head.target());
        if (p.matches()) {
            String rest = (p.group(3) == null || p.group(3).isEmpty() ? "/" : p.group(3)) + (p.group(4) == null ? "" : p.group(4));
            return new Route(p.group(1), Integer.parseInt(p.group(2)), rest, true, false);
        }
        return null;
    }

    /**
     * The request head as the VM gets it: the path prefix removed; for path routes the connection closes after one
     * response (later requests on it would not carry the prefix), unless it is an upgrade.
     */
    private static byte[] rewrite(Head head, String target, boolean byPath, boolean secure) {
        StringBuilder sb = new StringBuilder();
        sb.append(head.method()).append(' ').append(target).append(' ').append(head.version()).append("\r\n");
        boolean upgrade = head.header("upgrade").isPresent();
        for (String[] h : head.headers()) {
            if (byPath && !upgrade && h[0].equalsIgnoreCase("connection")) continue;
            if (h[0].equalsIgnoreCase(TOKEN_HEADER) || h[0].equalsIgnoreCase("x-forwarded-proto")) continue;
            sb.append(h[0]).append(": ").append(h[1]).append("\r\n");
        }
        if (byPath && !upgrade) sb.append("Connection: close\r\n");
        sb.append("X-Forwarded-Proto: ").append(secure ? "https" : "http").append("\r\n");
        sb.append("\r\n");
        return sb.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    private static Head readHead(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[4096];
        int end = -1;
        while (end < 0) {
            int n = in.read(chunk);
            if (n <= 0) return null;
            buf.write(chunk, 0, n);
            byte[] b = buf.toByteArray();
            for (int i = Math.max(0, b.length - n - 3); i + 3 < b.length; i++) {
                if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
                    end = i;
                    break;
                }
            }
            if (end < 0 && buf.size() > MAX_HEAD) return null;
        }
        byte[] all = buf.toByteArray();
        String text = new String(all, 0, end, StandardCharsets.ISO_8859_1);
        byte[] rest = java.util.Arrays.copyOfRange(all, end + 4, all.length);
        String[] lines = text.split("\r\n");
        String[] start = lines[0].split(" ");
        if (start.length != 3) return null;
        List<String[]> headers = new ArrayList<>();
        for (int i = 1; i < lines.length; i++) {
            int c = lines[i].indexOf(':');
            if (c <= 0) continue;
            headers.add(new String[] {lines[i].substring(0, c).strip(), lines[i].substring(c + 1).strip()});
        }
        return new Head(start[0], start[1], start[2], headers, rest);
    }

    private static Optional<String> cookie(Head head, String name) {
        for (String[] h : head.headers()) {
            if (!h[0].equalsIgnoreCase("cookie")) continue;
            for (String part : h[1].split(";")) {
                String p = part.strip();
                if (p.startsWith(name + "=")) return Optional.of(p.substring(name.length() + 1));
            }
        }
        return Optional.empty();
    }

    static Optional<String> queryParam(String target, String name) {
        int q = target.indexOf('?');
        if (q < 0) return Optional.empty();
        for (String kv : target.substring(q + 1).split("&")) {
            if (kv.startsWith(name + "=")) return Optional.of(URLDecoder.decode(kv.substring(name.length() + 1), StandardCharsets.UTF_8));
        }
        return Optional.empty();
    }

    static String withoutParam(String target, String name) {
        int q = target.indexOf('?');
        if (q < 0) return target;
        List<String> kept = new ArrayList<>();
        for (String kv : target.substring(q + 1).split("&")) if (!kv.startsWith(name + "=") && !kv.isEmpty()) kept.add(kv);
        return target.substring(0, q) + (kept.isEmpty() ? "" : "?" + String.join("&", kept));
    }

    private static void respond(OutputStream out, int status, String reason, String body, List<String> extra) throws IOException {
        StringBuilder sb = new StringBuilder("HTTP/1.1 ").append(status).append(' ').append(reason).append("\r\n");
        sb.append("Content-Type: text/plain; charset=utf-8\r\n");
        sb.append("Content-Length: ").append(body.getBytes(StandardCharsets.UTF_8).length).append("\r\n");
        sb.append("Connection: close\r\n");
        if (extra != null) for (String h : extra) sb.append(h).append("\r\n");
        sb.append("\r\n").append(body);
        out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Override
    public void close() {
        closed = true;
        close(listener);
        if (tlsListener != null) close(tlsListener);
        try {
            acceptor.join(2000);
            if (tlsAcceptor != null) tlsAcceptor.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
