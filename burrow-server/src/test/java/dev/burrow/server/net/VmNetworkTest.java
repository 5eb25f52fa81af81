package dev.burrow.server.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.net.Ipv4Cidr;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.HostInspection;
import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;
import dev.burrow.server.http.Json;

/**
 * VM networking over the HTTP API with real runc, nftables and a test-made "outside" namespace: addresses, NAT,
 * DNS, isolation from the host and from other VMs, egress policy at create and changed while running, limits,
 * and nothing left behind.
 */
class VmNetworkTest {
    private static OutsideNetwork outside;
    private static TestServer server;

    @BeforeAll
    static void start() throws IOException {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("nft");
        HostRequirements.requireCommand("ip");
        HostRequirements.requireCommand("busybox");
        outside = OutsideNetwork.create();
        server = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withNetwork(new ServerConfig.Network(true, null, List.of(outside.dnsUpstream()), List.of(outside.link()))));
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (outside != null) outside.close();
    }

    @Test
    void vmGetsAnAddressReachesTheOutsideThroughNatAndResolvesNames() {
        String vm = server.createVm("{}");
        JsonNode net = server.get("/v1/vms/" + vm + "/network").json();
        String address = net.get("address").asText();
        String gateway = net.get("gateway").asText();
        Ipv4Cidr subnet = Ipv4Cidr.parse(subnetOf(server));
        assertThat(subnet.contains(Ipv4Cidr.parseAddress(address))).as(address + " in " + subnet).isTrue();
        assertThat(net.get("policy").get("egress").asText()).isEqualTo("allow-all");

        assertThat(exec(vm, "ip -4 addr show dev eth0").get("stdout").asText()).contains(address + "/");
        assertThat(exec(vm, "ip route").get("stdout").asText()).contains("default via " + gateway);
        assertThat(exec(vm, "cat /etc/resolv.conf").get("stdout").asText()).contains("nameserver " + gateway);

        // the outside namespace has no route back to the VM subnet: an answer means the VM was masqueraded
        JsonNode byIp = exec(vm, "wget -q -O - http://" + outside.address + ":" + outside.httpPort + "/");
        assertThat(byIp.get("stdout").asText()).as(byIp.toString()).contains(outside.page);

        JsonNode lookup = exec(vm, "nslookup web." + OutsideNetwork.DOMAIN);
        assertThat(lookup.get("stdout").asText()).as(lookup.toString()).contains(outside.address);
        JsonNode byName = exec(vm, "wget -q -O - http://web." + OutsideNetwork.DOMAIN + ":" + outside.httpPort + "/");
        assertThat(byName.get("stdout").asText()).as(byName.toString()).contains(outside.page);

        // the address stays the VM's across stop and start
        assertThat(server.post("/v1/vms/" + vm + "/stop", null).status()).isEqualTo(200);
        assertThat(server.post("/v1/vms/" + vm + "/start", null).status()).isEqualTo(200);
        assertThat(server.get("/v1/vms/" + vm + "/network").json().get("address").asText()).isEqualTo(address);
        assertThat(exec(vm, "wget -q -O - http://" + outside.address + ":" + outside.httpPort + "/").get("stdout").asText())
                .contains(outside.page);

        deleteAndExpectNothingLeft(vm);
    }

    @Test
    void denyAllRefusesConnectionsAtOnceAndResolvesNothing() {
        String vm = server.createVm("{\"network\":{\"egress\":\"deny-all\"}}");
        JsonNode r = exec(vm, "wget -q -O - http://" + outside.address + ":" + outside.httpPort + "/; echo rc=$?");
        // refused (TCP reset), not dropped: wget reports the refusal instead of waiting for a timeout
        assertThat(r.get("stdout").asText()).contains("rc=1");
        assertThat(r.get("stderr").asText()).contains("Connection refused");
        JsonNode dns = exec(vm, "nslookup web." + OutsideNetwork.DOMAIN + "; echo rc=$?");
        assertThat(dns.get("stdout").asText()).as(dns.toString()).contains("NXDOMAIN").doesNotContain(outside.address);
        deleteAndExpectNothingLeft(vm);
    }

    @Test
    void policyChangesWhileTheVmRuns() {
        String vm = server.createVm("{}");
        String url = "http://" + outside.address + ":" + outside.httpPort + "/";
        String byName = "http://web." + OutsideNetwork.DOMAIN + ":" + outside.httpPort + "/";
        assertThat(exec(vm, "wget -q -O - " + url).get("stdout").asText()).contains(outside.page);

        // deny one range under allow-all
        put(vm, "{\"denyCidrs\":[\"" + outside.address + "/32\"]}");
        assertThat(exec(vm, "wget -q -O - " + url).get("stderr").asText()).contains("Connection refused");

        // deny-all with the range allowed
        put(vm, "{\"egress\":\"deny-all\",\"allowCidrs\":[\"" + outside.hostAddress + "/30\"]}");
        assertThat(exec(vm, "wget -q -O - " + url).get("stdout").asText()).contains(outside.page);

        // deny-all with a domain allowed: the name resolves and its address opens; other names do not resolve
        JsonNode view = put(vm, "{\"egress\":\"deny-all\",\"allowDomains\":[\"web." + OutsideNetwork.DOMAIN + "\"]}");
        assertThat(view.get("policy").get("allowDomains").get(0).asText()).isEqualTo("web." + OutsideNetwork.DOMAIN);
        assertThat(exec(vm, "wget -q -O - " + url).get("stderr").asText()).as("not resolved yet").contains("Connection refused");
        assertThat(exec(vm, "wget -q -O - " + byName).get("stdout").asText()).contains(outside.page);
        JsonNode other = exec(vm, "nslookup other." + OutsideNetwork.DOMAIN);
        assertThat(other.get("stdout").asText()).as(other.toString()).contains("NXDOMAIN");
        assertThat(outside.queries()).doesNotContain("other." + OutsideNetwork.DOMAIN);

        // a denied domain under allow-all: it does not resolve, other DNS servers are out of reach
        put(vm, "{\"denyDomains\":[\"" + OutsideNetwork.DOMAIN + "\"]}");
        assertThat(exec(vm, "nslookup web." + OutsideNetwork.DOMAIN).get("stdout").asText()).contains("NXDOMAIN");
        JsonNode direct = exec(vm, "nslookup web." + OutsideNetwork.DOMAIN + " " + outside.address + "; echo rc=$?");
        assertThat(direct.get("stdout").asText()).doesNotContain("Address: " + outside.address);

        // back to the default
        put(vm, "{}");
        assertThat(exec(vm, "wget -q -O - " + byName).get("stdout").asText()).contains(outside.page);
        assertThat(server.get("/v1/vms/" + vm).status()).isEqualTo(200);
        deleteAndExpectNothingLeft(vm);
    }

    @Test
    void badPoliciesAreRefusedWithoutChange() {
        assertThat(server.post("/v1/vms", "{\"network\":{\"egress\":\"maybe\"}}").status()).isEqualTo(400);
        String vm = server.createVm("{}");
        for (String bad : List.of("{\"allowCidrs\":[\"10.0.0.0/33\"]}", "{\"allowCidrs\":[\"fe80::/64\"]}",
                "{\"denyDomains\":[\"bad domain\"]}", "{\"bandwidthMbps\":0}", "{\"maxConnections\":-1}",
                "{\"egress\":\"nope\"}", "not json", "")) {
            TestServer.Response r = server.put("/v1/vms/" + vm + "/network", bad);
            assertThat(r.status()).as(bad + " -> " + r).isEqualTo(400);
            assertThat(r.json().get("code").asText()).matches("[A-Z_]+");
        }
        assertThat(server.get("/v1/vms/" + vm + "/network").json().get("policy").get("egress").asText()).isEqualTo("allow-all");
        assertThat(server.put("/v1/vms/zzzzzzzzzzzzzzzzzzzz/network", "{}").status()).isEqualTo(404);
        deleteAndExpectNothingLeft(vm);
    }

    @Test
    void vmCannotReachTheHost() throws IOException {
        String vm = server.createVm("{}");
        String gateway = server.get("/v1/vms/" + vm + "/network").json().get("gateway").asText();
        // a host service on every address: without the rules the VM would reach it through the gateway address
        try (ServerSocket any = new ServerSocket()) {
            any.bind(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), 0));
            Thread acceptor = Thread.ofVirtual().start(() -> {
                while (!any.isClosed()) {
                    try (Socket s = any.accept()) {
                        s.getOutputStream().write("HTTP/1.0 200 OK\r\n\r\nhost-service\n".getBytes());
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            int port = any.getLocalPort();
            // control: the service answers on the gateway address from the host itself
            try (Socket s = new Socket(gateway, port)) {
                assertThat(new String(s.getInputStream().readAllBytes())).contains("host-service");
            }
            List<String> targets = new ArrayList<>(hostAddresses());
            // the host's end of the outside link is in a range the server opened (--vm-allow-private): the host's
            // own addresses stay closed all the same
            assertThat(targets).contains(outside.hostAddress);
            targets.add(gateway);
            for (String a : targets) {
                JsonNode r = exec(vm, "wget -q -O - http://" + a + ":" + port + "/; echo rc=$?");
                assertThat(r.get("stdout").asText()).as(a + ": " + r).contains("rc=1").doesNotContain("host-service");
                assertThat(r.get("stderr").asText()).as(a).contains("Connection refused");
            }
            // the API port, and the host's loopback: 127.0.0.1 inside the VM is the VM's own
            int api = server.server.port();
            for (String a : List.of(gateway + ":" + api, "127.0.0.1:" + api, "127.0.0.1:" + port)) {
                JsonNode r = exec(vm, "wget -q -O - http://" + a + "/healthz; echo rc=$?");
                assertThat(r.get("stdout").asText()).as(a + ": " + r).contains("rc=1");
            }
            any.close();
            acceptor.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        deleteAndExpectNothingLeft(vm);
    }

    @Test
    void vmsCannotReachEachOther() {
        String a = server.createVm("{}");
        String b = server.createVm("{}");
        String bAddress = server.get("/v1/vms/" + b + "/network").json().get("address").asText();
        exec(b, "mkdir -p /www && echo vm-b > /www/index.html && httpd -p 8081 -h /www");
        // control: B's server answers B itself and the host
        assertThat(exec(b, "wget -q -O - http://127.0.0.1:8081/").get("stdout").asText()).contains("vm-b");
        assertThat(OutsideNetwork.run("busybox", "wget", "-q", "-O", "-", "http://" + bAddress + ":8081/")).contains("vm-b");
        JsonNode r = exec(a, "timeout 10 wget -q -O - http://" + bAddress + ":8081/; echo rc=$?");
        assertThat(r.get("stdout").asText()).as(r.toString()).doesNotContain("vm-b").doesNotContain("rc=0");
        // nor by ping
        JsonNode ping = exec(a, "ping -c 1 -W 2 " + bAddress + "; echo rc=$?");
        assertThat(ping.get("stdout").asText()).as(ping.toString()).doesNotContain("rc=0");
        // nor when its policy allows the whole VM range
        String allowing = server.createVm("{\"network\":{\"egress\":\"deny-all\",\"allowCidrs\":[\"" + subnetOf(server) + "\"]}}");
        JsonNode allowed = exec(allowing, "timeout 10 wget -q -O - http://" + bAddress + ":8081/ 2>&1; echo rc=$?");
        assertThat(allowed.get("stdout").asText()).as(allowed.toString()).doesNotContain("vm-b").contains("Connection refused");
        deleteAndExpectNothingLeft(allowing);
        deleteAndExpectNothingLeft(a);
        deleteAndExpectNothingLeft(b);
    }

    /**
     * Every denied connection fails at once with a refusal: VM to VM (the ports are isolated, so the host answers
     * ARP for the subnet and refuses what it would forward), VM to the host, and egress a policy denies. A drop (or
     * an unanswered ARP request) would show as a timeout of seconds instead.
     */
    @Test
    void deniedConnectionsAreRefusedAtOnce() throws IOException {
        String a = server.createVm("{}");
        String b = server.createVm("{}");
        String denied = server.createVm("{\"network\":{\"egress\":\"deny-all\"}}");
        String bAddress = server.get("/v1/vms/" + b + "/network").json().get("address").asText();
        String gateway = server.get("/v1/vms/" + a + "/network").json().get("gateway").asText();
        exec(b, "mkdir -p /www && echo vm-b > /www/index.html && httpd -p 8081 -h /www");
        assertThat(OutsideNetwork.run("busybox", "wget", "-q", "-O", "-", "http://" + bAddress + ":8081/")).contains("vm-b");
        try (ServerSocket host = new ServerSocket()) {
            host.bind(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), 0));
            record Attempt(String what, String vm, String target) { }
            List<Attempt> attempts = List.of(new Attempt("vm-to-vm", a, bAddress + ":8081"),
                    new Attempt("vm-to-host", a, gateway + ":" + host.getLocalPort()),
                    new Attempt("denied-egress", denied, outside.address + ":" + outside.httpPort));
            for (Attempt at : attempts) {
                List<Double> seconds = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    // timed inside the VM (/proc/uptime, 10 ms steps), so exec overhead does not count
                    JsonNode r = exec(at.vm(), "read t0 _ < /proc/uptime; timeout 10 wget -q -O - http://" + at.target()
                            + "/ 2>&1; echo rc=$?; read t1 _ < /proc/uptime; echo \"t=$t0 $t1\"");
                    String out = r.get("stdout").asText();
                    assertThat(out).as(at + ": " + r).contains("Connection refused").contains("rc=1").doesNotContain("vm-b");
                    String[] t = out.substring(out.indexOf("t=") + 2).strip().split(" ");
                    seconds.add(Double.parseDouble(t[1]) - Double.parseDouble(t[0]));
                }
                Collections.sort(seconds);
                System.out.printf("refusal %s: median %.3f s (%s)%n", at.what(), seconds.get(1), seconds);
                assertThat(seconds.get(2)).as(at.what() + " refusal time (s), " + seconds).isLessThan(1.0);
            }
        }
        deleteAndExpectNothingLeft(a);
        deleteAndExpectNothingLeft(b);
        deleteAndExpectNothingLeft(denied);
    }

    /**
     * DNS over TCP from inside a VM's namespace (a host-side client whose sockets live there, so the forwarder sees
     * the VM): several queries on one connection, the same domain policy as over UDP (a denied name is NXDOMAIN and
     * never asked upstream, an allowed one opens its addresses), an answer too big for UDP comes truncated over UDP
     * and whole over TCP, and an idle connection is closed.
     */
    @Test
    void dnsOverTcpFollowsThePolicyAndCarriesTruncatedAnswers() throws IOException {
        String big = "big." + OutsideNetwork.DOMAIN;
        String web = "web." + OutsideNetwork.DOMAIN;
        String other = "other." + OutsideNetwork.DOMAIN;
        String vm = server.createVm("{\"network\":{\"egress\":\"deny-all\",\"allowDomains\":[\"" + web + "\",\"" + big + "\"]}}");
        String gateway = server.get("/v1/vms/" + vm + "/network").json().get("gateway").asText();
        java.nio.file.Path netns = java.nio.file.Path.of("/run/netns", "burrow-" + server.server.nodeId() + "-" + vm);
        InetSocketAddress dns = new InetSocketAddress(gateway, 53);
        String url = "http://" + outside.address + ":" + outside.httpPort + "/";
        assertThat(exec(vm, "wget -q -O - " + url).get("stderr").asText()).as("not resolved yet").contains("Connection refused");

        // over UDP the big answer comes truncated: a resolver must retry over TCP
        try (java.nio.channels.DatagramChannel udp = InNetns.udp(netns)) {
            udp.connect(dns);
            udp.write(java.nio.ByteBuffer.wrap(query(7, big)));
            udp.socket().setSoTimeout(5000);
            java.net.DatagramPacket p = new java.net.DatagramPacket(new byte[65535], 65535);
            udp.socket().receive(p);
            byte[] r = java.util.Arrays.copyOf(p.getData(), p.getLength());
            assertThat(r[2] & 0x02).as("TC bit over UDP").isEqualTo(0x02);
            assertThat(answerCount(r)).isZero();
        }

        try (java.nio.channels.SocketChannel tcp = InNetns.tcp(netns)) {
            tcp.socket().connect(dns, 5000);
            tcp.socket().setSoTimeout(5000);
            java.io.DataOutputStream out = new java.io.DataOutputStream(tcp.socket().getOutputStream());
            java.io.DataInputStream in = new java.io.DataInputStream(tcp.socket().getInputStream());
            // three queries written at once on one connection, answered in order
            for (Object[] q : new Object[][] {{1, web}, {2, big}, {3, other}}) {
                byte[] m = query((Integer) q[0], (String) q[1]);
                out.writeShort(m.length);
                out.write(m);
            }
            out.flush();
            byte[] r1 = in.readNBytes(in.readUnsignedShort());
            byte[] r2 = in.readNBytes(in.readUnsignedShort());
            byte[] r3 = in.readNBytes(in.readUnsignedShort());
            assertThat(id(r1)).isEqualTo(1);
            assertThat(r1[3] & 0x0f).isZero();
            assertThat(answerCount(r1)).isEqualTo(1);
            assertThat(id(r2)).isEqualTo(2);
            assertThat(r2[2] & 0x02).as("no TC over TCP").isZero();
            assertThat(answerCount(r2)).isEqualTo(OutsideNetwork.BIG_ANSWERS);
            assertThat(r2.length).isGreaterThan(512);
            assertThat(id(r3)).isEqualTo(3);
            assertThat(r3[3] & 0x0f).as("denied name: NXDOMAIN").isEqualTo(3);
            assertThat(outside.queries()).contains("tcp:" + big).doesNotContain(other, "tcp:" + other);

            // the names resolved over TCP opened their addresses, as over UDP
            assertThat(exec(vm, "wget -q -O - " + url).get("stdout").asText()).contains(outside.page);

            // an idle connection is closed by the forwarder
            tcp.socket().setSoTimeout(30_000);
            long t0 = System.nanoTime();
            assertThat(in.read()).as("EOF after the idle timeout").isEqualTo(-1);
            assertThat((System.nanoTime() - t0) / 1e9).isLessThan(20);
        }
        deleteAndExpectNothingLeft(vm);
    }

    private static byte[] query(int id, String name) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes(new byte[] {(byte) (id >> 8), (byte) id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            b.write(label.length());
            b.writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        b.writeBytes(new byte[] {0, 0, 1, 0, 1});
        return b.toByteArray();
    }

    private static int id(byte[] m) {
        return ((m[0] & 0xff) << 8) | (m[1] & 0xff);
    }

    private static int answerCount(byte[] m) {
        return ((m[6] & 0xff) << 8) | (m[7] & 0xff);
    }

    @Test
    void connectionAndBandwidthLimits() throws IOException {
        String vm = server.createVm("{\"network\":{\"maxConnections\":2,\"bandwidthMbps\":8}}");
        String target = outside.address + " " + outside.httpPort;
        // two connections held open (in the same exec: an exec's leftover children end with it), the third is refused
        // (retried while the two may still be connecting on a loaded host)
        JsonNode third = exec(vm, "sleep 20 | nc " + target + " >/dev/null 2>&1 & sleep 20 | nc " + target
                + " >/dev/null 2>&1 & for i in $(seq 1 20); do sleep 0.5; if echo | nc " + target
                + " 2>&1 | grep -q 'Connection refused'; then echo third-refused; break; fi; done; kill %1 %2 2>/dev/null; true");
        assertThat(third.get("stdout").asText()).as(third.toString()).contains("third-refused");
        String veth = vethOf(vm);
        assertThat(OutsideNetwork.run("tc", "qdisc", "show", "dev", veth)).contains("tbf").contains("rate 8Mbit");
        String netns = "burrow-" + server.server.nodeId() + "-" + vm;
        assertThat(OutsideNetwork.run("tc", "-n", netns, "qdisc", "show", "dev", "eth0")).contains("tbf").contains("rate 8Mbit");
        // lifting the limits removes them
        put(vm, "{}");
        assertThat(OutsideNetwork.run("tc", "qdisc", "show", "dev", veth)).doesNotContain("tbf");
        JsonNode again = exec(vm, "sleep 20 | nc " + target + " >/dev/null 2>&1 & sleep 20 | nc " + target
                + " >/dev/null 2>&1 & sleep 2; echo | nc " + target + "; echo rc=$?; kill %1 %2 2>/dev/null; true");
        assertThat(again.get("stderr").asText()).as(again.toString()).doesNotContain("Connection refused");
        deleteAndExpectNothingLeft(vm);
    }

    // ---- helpers ----

    private static String vethOf(String vm) throws IOException {
        try (var ifs = java.nio.file.Files.list(java.nio.file.Path.of("/sys/class/net"))) {
            for (var i : ifs.toList()) {
                try {
                    if (java.nio.file.Files.readString(i.resolve("ifalias")).strip().endsWith(":" + vm)) return i.getFileName().toString();
                } catch (IOException e) {
                    // no alias
                }
            }
        }
        throw new AssertionError("no veth for " + vm);
    }

    private static List<String> hostAddresses() throws IOException {
        List<String> out = new ArrayList<>();
        for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (ni.getName().startsWith("bw-") || ni.isLoopback()) continue;
            for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                if (a instanceof Inet4Address) out.add(a.getHostAddress());
            }
        }
        return out;
    }

    private static String subnetOf(TestServer s) {
        try {
            return java.nio.file.Files.readString(s.dataDir.resolve("vm-subnet")).strip();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static JsonNode put(String vm, String body) {
        TestServer.Response r = server.put("/v1/vms/" + vm + "/network", body);
        assertThat(r.status()).as(r.toString()).isEqualTo(200);
        return r.json();
    }

    static JsonNode exec(String vm, String command) {
        return exec(server, vm, command);
    }

    /** Runs {@code command} in {@code vm} of {@code on} (60 s at most); the call itself must succeed. */
    static JsonNode exec(TestServer on, String vm, String command) {
        String body;
        try {
            body = Json.MAPPER.writeValueAsString(java.util.Map.of("command", command, "timeoutMs", 60_000));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        TestServer.Response r = on.post("/v1/vms/" + vm + "/exec-await", body);
        assertThat(r.status()).as(r.toString()).isEqualTo(200);
        return r.json();
    }

    private static void deleteAndExpectNothingLeft(String vm) {
        assertThat(server.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(vm, server.dataDir, server.server.nodeId())).isEmpty();
    }
}
