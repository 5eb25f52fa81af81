package dev.burrow.server.net;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;

/**
 * "The internet" for network tests, made by the test on this host: a network namespace joined to the host by a
 * veth pair on a /30 of 198.18.0.0/15 (the benchmarking range, routed nowhere), a web server in it, and a DNS
 * server on host loopback (UDP and TCP on one port) that resolves every name under {@code outside.test} to it and
 * nothing else. Names starting with {@code big.} have {@value #BIG_ANSWERS} addresses (the first one the outside's):
 * over UDP their answer comes truncated (TC, no records), as a real server does when they do not fit. The outside
 * namespace has no route to the VM subnet, so a VM reaching it proves the host masquerades VM traffic.
 *
 * <p>Its /30 is a network attached to the host, which VMs may not reach unless the server names it with
 * {@code --vm-allow-private} ({@link #link()}). A test may give the namespace more addresses ({@link #addAddress})
 * and names other answers ({@link #answer}).
 */
public final class OutsideNetwork implements AutoCloseable {
    public static final String DOMAIN = "outside.test";
    static final int BIG_ANSWERS = 40;
    private static final SecureRandom RANDOM = new SecureRandom();

    public final String netns;
    public final String hostVeth;
    public final String hostAddress;
    public final String address;
    public final int httpPort = 8080;
    public final String page;
    private final Path wwwDir;
    private final DatagramSocket dns;
    private final java.net.ServerSocket dnsTcp;
    private final Thread dnsThread;
    private final Thread dnsTcpThread;
    private final List<String> queries = java.util.Collections.synchronizedList(new ArrayList<>());
    private final java.util.Map<String, List<String>> answers = new java.util.concurrent.ConcurrentHashMap<>();

    private OutsideNetwork() throws IOException {
        String tag = Integer.toString(RANDOM.nextInt(36 * 36 * 36 * 36), 36);
        this.netns = "burrow-test-out-" + tag;
        this.hostVeth = "bto" + tag + "h";
        int block = RANDOM.nextInt(1 << 15); // a /30 inside 198.18.0.0/15
        int base = (198 << 24) | (18 << 16) | (block << 2);
        this.hostAddress = format(base + 1);
        this.address = format(base + 2);
        this.page = "outside-" + tag;
        run("ip", "netns", "add", netns);
        try {
            run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", netns);
            run("ip", "addr", "add", hostAddress + "/30", "dev", hostVeth);
            run("ip", "link", "set", hostVeth, "up");
            run("ip", "-n", netns, "addr", "add", address + "/30", "dev", "eth0");
            run("ip", "-n", netns, "link", "set", "eth0", "up");
            run("ip", "-n", netns, "link", "set", "lo", "up");
            this.wwwDir = Files.createTempDirectory("burrow-outside-www-");
            Files.writeString(wwwDir.resolve("index.html"), page + "\n");
            // busybox httpd daemonizes; it dies with the namespace's processes at close
            Process httpd = new ProcessBuilder("ip", "netns", "exec", netns, "busybox", "httpd", "-p", Integer.toString(httpPort),
                    "-h", wwwDir.toString()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            try {
                if (httpd.waitFor() != 0) throw new IllegalStateException("busybox httpd did not start in " + netns);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        } catch (IOException | RuntimeException e) {
            destroyNetns();
            throw e;
        }
        this.dnsTcp = new java.net.ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.dns = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), dnsTcp.getLocalPort()));
        this.dnsThread = Thread.ofPlatform().daemon().name("outside-dns").start(this::serveDns);
        this.dnsTcpThread = Thread.ofPlatform().daemon().name("outside-dns-tcp").start(this::serveDnsTcp);
    }

    public static OutsideNetwork create() throws IOException {
        return new OutsideNetwork();
    }

    /** The /30 joining the namespace to the host, for the server's {@code --vm-allow-private}. */
    public String link() {
        return hostAddress + "/30";
    }

    /** Another address of the namespace (its web server answers there too); the test routes it from the host. */
    public void addAddress(String a) {
        run("ip", "-n", netns, "addr", "add", a + "/32", "dev", "lo");
    }

    /** From now on the DNS server answers {@code name} (lowercase, no final dot) with these A records. */
    public void answer(String name, List<String> addresses) {
        answers.put(name, List.copyOf(addresses));
    }

    /** The web server's document root (served at {@code http://address:httpPort/}). */
    public Path wwwDir() {
        return wwwDir;
    }

    /** host:port of the DNS server for {@code --vm-dns}. */
    public String dnsUpstream() {
        return "127.0.0.1:" + dns.getLocalPort();
    }

    /** Names the upstream DNS server was asked for (the VMs' forwarder asks only for names a policy allows). */
    public List<String> queries() {
        return List.copyOf(queries);
    }

    private void serveDns() {
        byte[] buf = new byte[1500];
        while (!dns.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                dns.receive(p);
                byte[] q = java.util.Arrays.copyOf(p.getData(), p.getLength());
                byte[] r = answer(q, false);
                dns.send(new DatagramPacket(r, r.length, p.getSocketAddress()));
            } catch (IOException | RuntimeException e) {
                // closed, or a malformed query: ignore
            }
        }
    }

    /** Queries over TCP, several per connection. */
    private void serveDnsTcp() {
        while (!dnsTcp.isClosed()) {
            try {
                java.net.Socket s = dnsTcp.accept();
                Thread.ofVirtual().start(() -> {
                    try (s) {
                        java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
                        java.io.DataOutputStream out = new java.io.DataOutputStream(s.getOutputStream());
                        while (true) {
                            byte[] q = in.readNBytes(in.readUnsignedShort());
                            byte[] r = answer(q, true);
                            out.writeShort(r.length);
                            out.write(r);
                            out.flush();
                        }
                    } catch (IOException | RuntimeException e) {
                        // the client closed, or a malformed query
                    }
                });
            } catch (IOException e) {
                // closed
            }
        }
    }

    /**
     * An authoritative answer: A records of {@code *.outside.test} point at the outside namespace, anything else
     * NXDOMAIN; {@code big.} names get {@value #BIG_ANSWERS} records over TCP, a truncated answer over UDP.
     */
    private byte[] answer(byte[] q, boolean tcp) {
        int pos = 12;
        StringBuilder name = new StringBuilder();
        while (q[pos] != 0) {
            int len = q[pos] & 0xff;
            if (!name.isEmpty()) name.append('.');
            name.append(new String(q, pos + 1, len, StandardCharsets.US_ASCII));
            pos += 1 + len;
        }
        int qEnd = pos + 5;
        int qtype = ((q[pos + 1] & 0xff) << 8) | (q[pos + 2] & 0xff);
        String n = name.toString().toLowerCase(java.util.Locale.ROOT);
        queries.add((tcp ? "tcp:" : "") + n);
        boolean ours = n.equals(DOMAIN) || n.endsWith("." + DOMAIN);
        boolean big = ours && n.startsWith("big.");
        boolean truncated = big && !tcp;
        List<String> given = answers.get(n);
        int count = !ours || qtype != 1 || truncated ? 0 : given != null ? given.size() : big ? BIG_ANSWERS : 1;
        byte[] r = new byte[qEnd + 16 * count];
        System.arraycopy(q, 0, r, 0, qEnd);
        r[2] = (byte) (0x84 | (truncated ? 0x02 : 0) | (q[2] & 0x01)); // QR, AA, TC, RD copied
        r[3] = (byte) (ours ? 0x80 : 0x83);   // RA; NOERROR or NXDOMAIN
        r[6] = 0;
        r[7] = (byte) count;
        r[8] = r[9] = r[10] = r[11] = 0;
        for (int i = 0; i < count; i++) {
            int a = qEnd + 16 * i;
            r[a] = (byte) 0xc0;
            r[a + 1] = 12;               // name: pointer to the question
            r[a + 3] = 1;                // type A
            r[a + 5] = 1;                // class IN
            r[a + 9] = 60;               // TTL 60 s
            r[a + 11] = 4;               // rdlength
            // the others in TEST-NET-2, never used (not TEST-NET-1: a test host may sit on that one)
            String[] o = (given != null ? given.get(i) : i == 0 ? address : "198.51.100." + i).split("\\.");
            for (int k = 0; k < 4; k++) r[a + 12 + k] = (byte) Integer.parseInt(o[k]);
        }
        return r;
    }

    @Override
    public void close() {
        dns.close();
        try {
            dnsTcp.close();
        } catch (IOException ignored) {
            // closing
        }
        try {
            dnsThread.join(2000);
            dnsTcpThread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        destroyNetns();
        try (var s = Files.walk(wwwDir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException ignored) {
            // a temp dir
        }
    }

    private void destroyNetns() {
        try {
            String pids = new String(new ProcessBuilder("ip", "netns", "pids", netns).start().getInputStream().readAllBytes(),
                    StandardCharsets.UTF_8);
            for (String pid : pids.split("\\s+")) {
                if (!pid.isBlank()) ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
            }
            new ProcessBuilder("ip", "netns", "delete", netns).start().waitFor();
            new ProcessBuilder("ip", "link", "delete", hostVeth).redirectErrorStream(true).start().waitFor();
        } catch (IOException e) {
            // best effort
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static String run(String... args) {
        try {
            Process p = new ProcessBuilder(args).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) throw new IllegalStateException(String.join(" ", args) + " failed: " + out);
            return out;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String format(int a) {
        return ((a >>> 24) & 255) + "." + ((a >>> 16) & 255) + "." + ((a >>> 8) & 255) + "." + (a & 255);
    }
}
