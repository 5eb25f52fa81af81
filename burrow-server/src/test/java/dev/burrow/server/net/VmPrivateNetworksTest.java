package dev.burrow.server.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.net.Ipv4Cidr;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.server.HostInspection;
import dev.burrow.server.ServerConfig;
import dev.burrow.server.TestServer;

/**
 * What no VM may reach whatever its policy (private ranges, link-local with the cloud metadata address, networks
 * attached to the host, the host, other VMs), with real runc and nftables, unless the operator names a range with
 * {@code --vm-allow-private}. The test's outside namespace gets three more addresses: the "metadata" address
 * 169.254.169.254, a private one (172.16.0.0/12) and a public one (TEST-NET-3). They are routed into the
 * namespace only for packets from the two servers' VM ranges (a routing rule and a table of the test's own), so
 * nothing leaves the machine and the host's own traffic (a real metadata service included) is untouched. Its DNS
 * server plays an attacker's: it answers a name with internal addresses next to a public one.
 */
class VmPrivateNetworksTest {
    private static final String METADATA = "169.254.169.254";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static OutsideNetwork outside;
    /** No --vm-allow-private. */
    private static TestServer guarded;
    /** --vm-allow-private 169.254.169.254/32. */
    private static TestServer open;
    private static String privateAddress;
    private static String publicAddress;
    private static String routeTable;
    private static final List<String> rules = new ArrayList<>();

    @BeforeAll
    static void start() throws IOException {
        HostRequirements.requireRunc();
        HostRequirements.requireCommand("nft");
        HostRequirements.requireCommand("ip");
        HostRequirements.requireCommand("busybox");
        outside = OutsideNetwork.create();
        privateAddress = "172." + (16 + RANDOM.nextInt(16)) + "." + RANDOM.nextInt(256) + "." + (1 + RANDOM.nextInt(254));
        publicAddress = "203.0.113." + (1 + RANDOM.nextInt(254));
        for (String a : List.of(METADATA, privateAddress, publicAddress)) outside.addAddress(a);
        guarded = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withNetwork(new ServerConfig.Network(true, null, List.of(outside.dnsUpstream()), List.of())));
        open = TestServer.start("builtin:busybox", null,
                cfg -> cfg.withNetwork(new ServerConfig.Network(true, null, List.of(outside.dnsUpstream()), List.of(METADATA + "/32"))));
        routeTable = Integer.toString(20_000 + RANDOM.nextInt(10_000));
        for (String a : List.of(METADATA, privateAddress, publicAddress)) {
            OutsideNetwork.run("ip", "route", "add", a + "/32", "via", outside.address, "dev", outside.hostVeth, "table", routeTable);
        }
        for (TestServer s : List.of(guarded, open)) {
            String rule = "from " + subnetOf(s) + " lookup " + routeTable + " priority " + routeTable;
            OutsideNetwork.run(("ip rule add " + rule).split(" "));
            rules.add(rule);
        }
    }

    @AfterAll
    static void stop() {
        for (String rule : rules) OutsideNetwork.run(("ip rule del " + rule).split(" "));
        if (routeTable != null) OutsideNetwork.run("ip", "route", "flush", "table", routeTable);
        if (guarded != null) guarded.close();
        if (open != null) open.close();
        if (outside != null) outside.close();
    }

    /**
     * A name whose DNS the attacker controls answers with the metadata address, loopback, the gateway, another
     * VM, a private address, the outside's attached address and one public address. A deny-all VM allowed that
     * name gets (and may reach) only the public one; every other is refused at once and never enters its allow
     * set. The VM with the default policy is handed none of them either.
     */
    @Test
    void aNameRebindingToInternalAddressesOpensOnlyItsPublicAddress() {
        String other = guarded.createVm("{}");
        String otherAddress = network(guarded, other).get("address").asText();
        String gateway = network(guarded, other).get("gateway").asText();
        exec(guarded, other, "mkdir -p /www && echo vm-b > /www/index.html && httpd -p 8081 -h /www");
        String name = "rebind." + OutsideNetwork.DOMAIN;
        List<String> internal = List.of(METADATA, "127.0.0.1", gateway, otherAddress, privateAddress, outside.address);
        List<String> all = new ArrayList<>(internal);
        all.add(publicAddress);
        outside.answer(name, all);

        String vm = guarded.createVm("{\"network\":{\"egress\":\"deny-all\",\"allowDomains\":[\"" + name + "\"]}}");
        for (String client : List.of(vm, other)) {
            JsonNode lookup = exec(guarded, client, "nslookup " + name);
            String answer = lookup.get("stdout").asText();
            assertThat(answer).as(lookup.toString()).contains("Name:");
            // after "Name:": the answer (before it, the server's own address, the gateway, is printed)
            String records = answer.substring(answer.indexOf("Name:"));
            assertThat(records).as(lookup.toString()).contains("Address: " + publicAddress);
            for (String a : internal) assertThat(records).as(lookup.toString()).doesNotContain(" " + a + "\n");
        }
        assertThat(outside.queries()).contains(name);

        String resolved = resolvedSet(guarded, vm);
        assertThat(resolved).contains(publicAddress);
        for (String a : internal) assertThat(resolved).as(a).doesNotContain(a + ",").doesNotContain(a + " ").doesNotContain(a + "\n");

        assertThat(get(guarded, vm, publicAddress + ":" + outside.httpPort).get("stdout").asText()).contains(outside.page);
        for (String target : List.of(METADATA + ":" + outside.httpPort, "127.0.0.1:" + outside.httpPort, gateway + ":8081",
                otherAddress + ":8081", privateAddress + ":" + outside.httpPort, outside.address + ":" + outside.httpPort)) {
            assertRefused(guarded, vm, target);
        }
        delete(guarded, vm);
        delete(guarded, other);
    }

    /** The metadata address, a private address and the host's attached network, refused whatever the policy allows. */
    @Test
    void internalAddressesAreRefusedAtOnceWhateverThePolicy() {
        String allowAll = guarded.createVm("{}");
        String allowing = guarded.createVm("{\"network\":{\"egress\":\"deny-all\",\"allowCidrs\":[\"169.254.0.0/16\","
                + "\"172.16.0.0/12\",\"" + outside.link() + "\",\"" + publicAddress + "/32\"]}}");
        for (String vm : List.of(allowAll, allowing)) {
            // control: the same route into the same namespace works for a public address
            assertThat(get(guarded, vm, publicAddress + ":" + outside.httpPort).get("stdout").asText()).contains(outside.page);
            for (String a : List.of(METADATA, privateAddress, outside.address)) assertRefused(guarded, vm, a + ":" + outside.httpPort);
        }
        delete(guarded, allowAll);
        delete(guarded, allowing);
    }

    /**
     * {@code --vm-allow-private 169.254.169.254/32} opens that address (by address, and by a name that resolves to
     * it) to the VMs whose policy lets them there, and nothing else: other private addresses stay refused, and a
     * deny-all VM is still denied.
     */
    @Test
    void aRangeTheOperatorNamesIsReachableAndNothingElse() {
        String vm = open.createVm("{}");
        assertThat(get(open, vm, METADATA + ":" + outside.httpPort).get("stdout").asText()).contains(outside.page);
        assertRefused(open, vm, "169.254.169.253:" + outside.httpPort);
        assertRefused(open, vm, privateAddress + ":" + outside.httpPort);
        assertRefused(open, vm, outside.address + ":" + outside.httpPort);

        String denied = open.createVm("{\"network\":{\"egress\":\"deny-all\"}}");
        assertRefused(open, denied, METADATA + ":" + outside.httpPort);

        String name = "meta." + OutsideNetwork.DOMAIN;
        outside.answer(name, List.of(METADATA, privateAddress));
        String byName = open.createVm("{\"network\":{\"egress\":\"deny-all\",\"allowDomains\":[\"" + name + "\"]}}");
        assertThat(get(open, byName, name + ":" + outside.httpPort).get("stdout").asText()).contains(outside.page);
        String resolved = resolvedSet(open, byName);
        assertThat(resolved).contains(METADATA).doesNotContain(privateAddress);
        delete(open, vm);
        delete(open, denied);
        delete(open, byName);
    }

    /** Another node's VMs on the same host are out of reach too (its bridge is a network attached to the host). */
    @Test
    void vmsOfAnotherNodeOnTheHostAreOutOfReach() {
        String target = open.createVm("{}");
        String targetAddress = network(open, target).get("address").asText();
        exec(open, target, "mkdir -p /www && echo vm-other-node > /www/index.html && httpd -p 8081 -h /www");
        assertThat(OutsideNetwork.run("busybox", "wget", "-q", "-O", "-", "http://" + targetAddress + ":8081/")).contains("vm-other-node");
        String vm = guarded.createVm("{}");
        JsonNode r = exec(guarded, vm, "timeout 10 wget -q -O - http://" + targetAddress + ":8081/ 2>&1; echo rc=$?");
        assertThat(r.get("stdout").asText()).as(r.toString()).doesNotContain("vm-other-node").doesNotContain("rc=0");
        delete(guarded, vm);
        delete(open, target);
    }

    /**
     * A network attached to the host after the server started (another namespace on a new /30) is closed as soon
     * as the server has read the host's routes again, without a restart; before that it is reachable (the VM's
     * packets stay on this host either way).
     */
    @Test
    void aNetworkAttachedAfterTheStartIsClosedToo() throws IOException {
        String vm = guarded.createVm("{}");
        try (OutsideNetwork late = OutsideNetwork.create()) {
            String target = late.address + ":" + late.httpPort;
            Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).untilAsserted(() ->
                    assertThat(get(guarded, vm, target).get("stdout").asText()).contains("Connection refused"));
            assertRefused(guarded, vm, target);
            assertThat(OutsideNetwork.run("nft", "list", "set", "inet", tableOf(guarded), "private_dst"))
                    .contains(Ipv4Cidr.parse(late.link()).toString());
        }
        delete(guarded, vm);
    }

    // ---- helpers ----

    /** The node's nftables table: the one holding the VM chains of {@code s}'s VMs, found by its bridge's name. */
    private static String tableOf(TestServer s) throws IOException {
        JsonNode sets = new ObjectMapper().readTree(OutsideNetwork.run("nft", "-j", "list", "tables", "inet"));
        List<String> tables = new ArrayList<>();
        for (JsonNode item : sets.path("nftables")) {
            String name = item.path("table").path("name").asText("");
            if (name.startsWith("burrow_")) tables.add(name);
        }
        for (String t : tables) {
            if (OutsideNetwork.run("nft", "list", "chain", "inet", t, "input").contains("ip daddr " + gatewayOf(s) + " ")) return t;
        }
        throw new AssertionError("no nft table of " + s.server.nodeId() + " in " + tables);
    }

    private static String gatewayOf(TestServer s) throws IOException {
        return Ipv4Cidr.format(Ipv4Cidr.parse(subnetOf(s)).address(1));
    }

    /**
     * A refusal, not a drop: wget fails with "Connection refused" instead of waiting for a timeout. How long it
     * took (inside the VM, /proc/uptime in 10 ms steps) is printed for the notes, not asserted.
     */
    private static void assertRefused(TestServer s, String vm, String target) {
        JsonNode r = exec(s, vm, "read t0 _ < /proc/uptime; timeout 20 wget -q -O - http://" + target
                + "/ 2>&1; echo rc=$?; read t1 _ < /proc/uptime; echo \"t=$t0 $t1\"");
        String out = r.get("stdout").asText();
        assertThat(out).as(target + ": " + r).contains("Connection refused").contains("rc=1")
                .doesNotContain(outside.page).doesNotContain("vm-b");
        String[] t = out.substring(out.indexOf("t=") + 2).strip().split(" ");
        System.out.printf("refusal %s: %.2f s%n", target, Double.parseDouble(t[1]) - Double.parseDouble(t[0]));
    }

    private static JsonNode get(TestServer s, String vm, String target) {
        return exec(s, vm, "timeout 20 wget -q -O - http://" + target + "/ 2>&1; echo rc=$?");
    }

    /** The VM's set of addresses resolved for allowed names, as nft lists it. */
    private static String resolvedSet(TestServer s, String vm) {
        String set = "vm_" + vm + "_dns";
        try {
            JsonNode sets = new ObjectMapper().readTree(OutsideNetwork.run("nft", "-j", "list", "sets", "inet"));
            for (JsonNode item : sets.path("nftables")) {
                if (item.path("set").path("name").asText("").equals(set)) {
                    return OutsideNetwork.run("nft", "list", "set", "inet", item.path("set").path("table").asText(), set);
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        throw new AssertionError("no nft set " + set + " of " + s.server.nodeId());
    }

    private static JsonNode network(TestServer s, String vm) {
        return s.get("/v1/vms/" + vm + "/network").json();
    }

    private static String subnetOf(TestServer s) throws IOException {
        return java.nio.file.Files.readString(s.dataDir.resolve("vm-subnet")).strip();
    }

    private static JsonNode exec(TestServer s, String vm, String command) {
        return VmNetworkTest.exec(s, vm, command);
    }

    private static void delete(TestServer s, String vm) {
        assertThat(s.delete("/v1/vms/" + vm).status()).isEqualTo(200);
        assertThat(HostInspection.leftovers(vm, s.dataDir, s.server.nodeId())).isEmpty();
    }
}
