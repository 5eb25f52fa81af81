package dev.burrow.driver.runc.net;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.net.NetworkPolicy;

/**
 * The DNS server of a node's VMs, on the bridge's address (UDP port 53). It answers a VM only for names its
 * policy allows (others get NXDOMAIN at once, so a lookup of a denied name fails fast) by asking the upstream
 * servers, and before answering it lets the VM through to the addresses an allowed name resolved to, so that
 * domain allow-lists work under a deny-all default. Queries from addresses that are not a VM are refused.
 */
final class DnsForwarder implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DnsForwarder.class);
    private static final int UPSTREAM_TIMEOUT_MS = 2000;

    /** What the forwarder needs to know about the VMs. */
    interface Clients {
        /** The policy of the VM with this address, or null when no VM has it. */
        NetworkPolicy policyFor(InetAddress client);

        /** Lets the VM reach {@code addresses} (resolved for an allowed name) for at least {@code ttlSeconds}. */
        void allowResolved(InetAddress client, List<Inet4Address> addresses, int ttlSeconds);
    }

    private final DatagramSocket socket;
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
        this.upstreams = List.copyOf(upstreams);
        this.clients = clients;
        this.receiver = Thread.ofPlatform().daemon().name("vm-dns-" + bind.getAddress().getHostAddress()).start(this::receive);
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
        try {
            if (!DnsMessage.isQuery(query, query.length)) return;
            NetworkPolicy policy = clients.policyFor(from.getAddress());
            if (policy == null) {
                send(DnsMessage.refusal(query, query.length, DnsMessage.RCODE_REFUSED), from);
                return;
            }
            String name = DnsMessage.questionName(query, query.length);
            if (!policy.allowsName(name)) {
                log.atDebug().addKeyValue("client", from.getAddress().getHostAddress()).addKeyValue("name", name)
                        .log("VM DNS query refused by policy");
                send(DnsMessage.refusal(query, query.length, DnsMessage.RCODE_NXDOMAIN), from);
                return;
            }
            byte[] response = forward(query);
            if (response == null) return; // the VM's resolver times out and retries, as with any lost packet
            if (policy.tracksResolvedAddresses()) {
                DnsMessage.Answers a = DnsMessage.answers(response, response.length);
                if (!a.addresses().isEmpty()) clients.allowResolved(from.getAddress(), a.addresses(), a.minTtl());
            }
            send(response, from);
        } catch (IllegalArgumentException e) {
            log.debug("malformed DNS message from {}: {}", from, e.getMessage());
        } catch (RuntimeException e) {
            log.warn("VM DNS query from {} failed: {}", from, e.getMessage());
        }
    }

    private byte[] forward(byte[] query) {
        int id = DnsMessage.id(query, query.length);
        for (InetSocketAddress upstream : upstreams) {
            try (DatagramSocket s = new DatagramSocket()) {
                s.setSoTimeout(UPSTREAM_TIMEOUT_MS);
                s.send(new DatagramPacket(query, query.length, upstream));
                byte[] buf = new byte[4096];
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
        try {
            receiver.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
