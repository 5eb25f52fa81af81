package dev.burrow.driver.runc.net;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.net.NetworkPolicy;

/**
 * The DNS server of a node's VMs, on the bridge's address (port 53, UDP and TCP). It answers a VM only for names
 * its policy allows (others get NXDOMAIN at once, so a lookup of a denied name fails fast) by asking the upstream
 * servers, and before answering it lets the VM through to the addresses an allowed name resolved to, so that
 * domain allow-lists work under a deny-all default. Queries from addresses that are not a VM are refused.
 *
 * <p>Addresses no VM may reach ({@link Clients#blocked}: private, link-local, loopback, the host's, other VMs')
 * are taken out of every answer, whatever the VM's policy, so they never enter an allow set and a name whose DNS
 * someone else controls cannot rebind a VM to them; a name left with no address answers with none (NOERROR, no
 * A record). The rules refuse those destinations anyway; stripping keeps the allow sets clean and lets a
 * client fail at once instead of trying an address it cannot reach. (DNSSEC signatures of a stripped RRset no
 * longer verify; VMs' resolvers do not validate by default.)
 *
 * <p>TCP (RFC 1035 4.2.2, RFC 7766): each message carries a two-byte length; a connection may carry several
 * queries, answered in order, and is closed after {@value #TCP_IDLE_MS} ms without one. A UDP answer the upstream
 * truncated (TC) is passed on as such, so the VM's resolver retries over TCP; a query that came over TCP is asked
 * upstream over UDP first and over TCP when that answer is truncated (so UDP-only upstreams still work).
 */
final class DnsForwarder implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DnsForwarder.class);
    private static final int UPSTREAM_TIMEOUT_MS = 2000;
    static final int TCP_IDLE_MS = 10_000;
    /** TCP connections open at once (all VMs of the node); one more is closed at once. */
    private static final int MAX_TCP_CONNECTIONS = 512;

    /** What the forwarder needs to know about the VMs. */
    interface Clients {
        /** The policy of the VM with this address, or null when no VM has it. */
        NetworkPolicy policyFor(InetAddress client);

        /** Whether no VM may reach {@code address}, so no answer may carry it. */
        boolean blocked(Inet4Address address);

        /** Lets the VM reach {@code addresses} (resolved for an allowed name) for at least {@code ttlSeconds}. */
        void allowResolved(InetAddress client, List<Inet4Address> addresses, int ttlSeconds);
    }

    private final DatagramSocket socket;
    private final ServerSocket tcp;
    private final Thread acceptor;
    private final java.util.Set<Socket> connections = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final List<InetSocketAddress> upstreams;
    private final Clients clients;
    private final Thread receiver;
    private volatile boolean closed;

    DnsForwarder(InetSocketAddress bind, List<InetSocketAddress> upstreams, Clients clients) {
        try {
            this.socket = new DatagramSocket(null);
            socket.bind(bind);
        } catch (SocketException e) {
            throw new dev.burrow.core.driver.DriverException("cannot listen for VM DNS on " + bind + ": " + e.getMessage(), e);
        }
        try {
            this.tcp = new ServerSocket();
            tcp.setReuseAddress(true);
            tcp.bind(new InetSocketAddress(bind.getAddress(), socket.getLocalPort()), 128);
        } catch (IOException e) {
            socket.close();
            throw new dev.burrow.core.driver.DriverException("cannot listen for VM DNS over TCP on " + bind + ": " + e.getMessage(), e);
        }
        this.upstreams = List.copyOf(upstreams);
        this.clients = clients;
        this.receiver = Thread.ofPlatform().daemon().name("vm-dns-" + bind.getAddress().getHostAddress()).start(this::receive);
        this.acceptor = Thread.ofPlatform().daemon().name("vm-dns-tcp-" + bind.getAddress().getHostAddress()).start(this::accept);
    }

    int port() {
        return socket.getLocalPort();
    }

    private void receive() {
        byte[] buf = new byte[4096];
        while (!closed) {
            DatagramPacket p = new DatagramPacket(buf, buf.length);
            try {
                socket.receive(p);
            } catch (IOException e) {
                if (!closed) log.warn("VM DNS receive failed: {}", e.getMessage());
                continue;
            }
            byte[] query = java.util.Arrays.copyOf(p.getData(), p.getLength());
            InetSocketAddress from = (InetSocketAddress) p.getSocketAddress();
            // one virtual thread per query: an upstream that is slow for one name must not hold up the others
            Thread.ofVirtual().start(() -> answer(query, from));
        }
    }

    private void answer(byte[] query, InetSocketAddress from) {
        byte[] response = respond(query, from.getAddress(), false);
        // none: the VM's resolver times out and retries, as with any lost packet
        if (response != null) send(response, from);
    }

    /**
     * The answer to one query of {@code client} (over TCP when {@code tcp}), or null when there is none to give
     * (not a query, or no upstream answered).
     */
    private byte[] respond(byte[] query, InetAddress client, boolean tcp) {
        try {
            if (!DnsMessage.isQuery(query, query.length)) return null;
            NetworkPolicy policy = clients.policyFor(client);
            if (policy == null) return DnsMessage.refusal(query, query.length, DnsMessage.RCODE_REFUSED);
            String name = DnsMessage.questionName(query, query.length);
            if (!policy.allowsName(name)) {
                log.atDebug().addKeyValue("client", client.getHostAddress()).addKeyValue("name", name)
                        .addKeyValue("transport", tcp ? "tcp" : "udp").log("VM DNS query refused by policy");
                return DnsMessage.refusal(query, query.length, DnsMessage.RCODE_NXDOMAIN);
            }
            byte[] response = forward(query);
            if (tcp && response != null && DnsMessage.truncated(response, response.length)) {
                byte[] full = forwardTcp(query);
                if (full != null) response = full;
            }
            if (response == null) return null;
            byte[] stripped = DnsMessage.withoutAddresses(response, response.length, clients::blocked);
            if (stripped != response) {
                log.atDebug().addKeyValue("client", client.getHostAddress()).addKeyValue("name", name)
                        .log("private addresses taken out of a VM's DNS answer");
                response = stripped;
            }
            if (policy.tracksResolvedAddresses()) {
                DnsMessage.Answers a = DnsMessage.answers(response, response.length);
                if (!a.addresses().isEmpty()) clients.allowResolved(client, a.addresses(), a.minTtl());
            }
            return response;
        } catch (IllegalArgumentException e) {
            log.debug("malformed DNS message from {}: {}", client, e.getMessage());
        } catch (RuntimeException e) {
            log.warn("VM DNS query from {} failed: {}", client, e.getMessage());
        }
        return null;
    }

    // ---- TCP ----

    private void accept() {
        while (!closed) {
            Socket s;
            try {
                s = tcp.accept();
            } catch (IOException e) {
                if (!closed) log.warn("VM DNS accept failed: {}", e.getMessage());
                continue;
            }
            if (connections.size() >= MAX_TCP_CONNECTIONS) {
                closeQuietly(s);
                continue;
            }
            connections.add(s);
            Thread.ofVirtual().start(() -> serveTcp(s));
        }
    }

    /** Queries of one connection, answered in order, until the client closes it or stays idle too long. */
    private void serveTcp(Socket s) {
        InetAddress client = s.getInetAddress();
        try (s) {
            s.setSoTimeout(TCP_IDLE_MS);
            java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(s.getInputStream()));
            java.io.OutputStream out = s.getOutputStream();
            while (!closed) {
                int len;
                try {
                    len = in.readUnsignedShort();
                } catch (java.io.EOFException | SocketTimeoutException e) {
                    return; // the client is done, or idle
                }
                if (len < 12) return; // not a DNS message: the stream cannot be trusted further
                byte[] query = in.readNBytes(len);
                if (query.length < len) return;
                byte[] response = respond(query, client, true);
                if (response == null) {
                    // over TCP a lost answer is not retried: say so instead of leaving the client waiting
                    if (!DnsMessage.isQuery(query, query.length)) return;
                    response = DnsMessage.refusal(query, query.length, DnsMessage.RCODE_SERVFAIL);
                }
                byte[] framed = new byte[response.length + 2];
                framed[0] = (byte) (response.length >>> 8);
                framed[1] = (byte) response.length;
                System.arraycopy(response, 0, framed, 2, response.length);
                out.write(framed);
                out.flush();
            }
        } catch (IOException | IllegalArgumentException e) {
            log.debug("VM DNS TCP connection of {} ended: {}", client, e.getMessage());
        } finally {
            connections.remove(s);
        }
    }

    /** Asks the upstream servers over TCP, in order; null when none answers. */
    private byte[] forwardTcp(byte[] query) {
        int id = DnsMessage.id(query, query.length);
        for (InetSocketAddress upstream : upstreams) {
            try (Socket s = new Socket()) {
                s.connect(upstream, UPSTREAM_TIMEOUT_MS);
                s.setSoTimeout(UPSTREAM_TIMEOUT_MS);
                byte[] framed = new byte[query.length + 2];
                framed[0] = (byte) (query.length >>> 8);
                framed[1] = (byte) query.length;
                System.arraycopy(query, 0, framed, 2, query.length);
                s.getOutputStream().write(framed);
                java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
                int len = in.readUnsignedShort();
                byte[] resp = in.readNBytes(len);
                if (resp.length == len && len >= 12 && DnsMessage.id(resp, len) == id && !DnsMessage.isQuery(resp, len)) return resp;
            } catch (IOException e) {
                log.debug("upstream DNS {} over TCP failed: {}", upstream, e.getMessage());
            }
        }
        return null;
    }

    private static void closeQuietly(java.io.Closeable s) {
        try {
            s.close();
        } catch (IOException e) {
            // closing
        }
    }

    private byte[] forward(byte[] query) {
        int id = DnsMessage.id(query, query.length);
        for (InetSocketAddress upstream : upstreams) {
            try (DatagramSocket s = new DatagramSocket()) {
                s.setSoTimeout(UPSTREAM_TIMEOUT_MS);
                s.send(new DatagramPacket(query, query.length, upstream));
                byte[] buf = new byte[65535];
                long deadline = System.currentTimeMillis() + UPSTREAM_TIMEOUT_MS;
                while (System.currentTimeMillis() < deadline) {
                    DatagramPacket r = new DatagramPacket(buf, buf.length);
                    s.receive(r);
                    if (!r.getSocketAddress().equals(upstream) || r.getLength() < 12) continue;
                    byte[] resp = java.util.Arrays.copyOf(r.getData(), r.getLength());
                    if (DnsMessage.id(resp, resp.length) == id && !DnsMessage.isQuery(resp, resp.length)) return resp;
                }
            } catch (SocketTimeoutException e) {
                // next upstream
            } catch (IOException e) {
                log.debug("upstream DNS {} failed: {}", upstream, e.getMessage());
            }
        }
        return null;
    }

    private void send(byte[] m, InetSocketAddress to) {
        try {
            socket.send(new DatagramPacket(m, m.length, to));
        } catch (IOException e) {
            log.debug("cannot answer VM DNS query of {}: {}", to, e.getMessage());
        }
    }

    @Override
    public void close() {
        closed = true;
        socket.close();
        closeQuietly(tcp);
        for (Socket s : connections) closeQuietly(s);
        try {
            receiver.join(2000);
            acceptor.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
