package dev.burrow.driver.runc.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.HostResource;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.NetworkSettings;
import dev.burrow.driver.runc.internal.HostCommand;

/**
 * The network layer alone (namespaces, veths, routes, rules; no containers): VMs are routed veths, not bridge
 * ports, so the 1,023 ports a Linux bridge takes no longer cap a node. By default the test is structural, with a few
 * dozen VMs (no bridge port, a /32 route and proxy ARP each, node rules that do not grow with the VM count, VMs
 * kept apart); {@code -Dburrow.netScaleVms=1100} runs it past the old limit (measured here: about 4 attaches a
 * second on a loaded 2-core machine, ~5 minutes, too long for every CI run). The 5,000-VM proof with containers
 * is {@code burrow bench scale 5000}.
 */
class NodeNetworkScaleTest {
    private static final int VMS = Integer.getInteger("burrow.netScaleVms", 40);
    private static final SecureRandom RANDOM = new SecureRandom();

    private Path stateDir;
    private String nodeId;
    private NetworkSettings settings;
    private NodeNetwork network;
    private final List<String> vms = new ArrayList<>();

    @BeforeEach
    void open() throws IOException {
        HostRequirements.requireRoot();
        HostRequirements.requireCommand("nft");
        nodeId = "s" + randomId(8);
        stateDir = Files.createTempDirectory("burrow-net-scale-");
        settings = new NetworkSettings(NetworkSettings.pickFreeSubnet(new Random()),
                List.of(new InetSocketAddress("127.0.0.1", 53)), List.of());
        network = NodeNetwork.open(settings, nodeId, stateDir);
    }

    @AfterEach
    void removeEverything() throws IOException {
        if (network == null) return;
        try {
            for (String vm : vms) network.detach(vm);
        } finally {
            network.close();
            HostCommand.of("rm", "-rf", stateDir.toString()).run();
        }
        assertThat(namespacesOfThisNode()).isEmpty();
        assertThat(Path.of("/sys/class/net", network.gatewayDevice())).doesNotExist();
        assertThat(HostCommand.of("nft", "list", "table", "inet", network.table()).run().ok()).isFalse();
    }

    @Test
    void vmsAreRoutedVethsNotBridgePortsEachWithItsOwnAddressAndKeptApart() throws IOException {
        attach(1);
        int nodeRulesWithOneVm = nodeRuleCount();
        attach(VMS - 1);
        assertThat(namespacesOfThisNode()).hasSize(VMS);
        assertThat(vms.stream().map(vm -> network.info(vm).address()).distinct()).hasSize(VMS);
        // what a bridge limits is not used: no VM's veth is a port of anything; each has its route and proxy ARP
        for (String vm : vms) {
            String veth = vethOf(vm);
            assertThat(Path.of("/sys/class/net", veth, "master")).as(veth).doesNotExist();
            assertThat(Files.readString(Path.of("/proc/sys/net/ipv4/conf", veth, "proxy_arp")).strip()).isEqualTo("1");
            assertThat(HostCommand.of("ip", "-4", "route", "show", network.info(vm).address() + "/32").check().stdout())
                    .contains("dev " + veth);
        }
        // the node's rules are keyed on the veth name prefix: their number does not grow with the VMs
        assertThat(nodeRuleCount()).isEqualTo(nodeRulesWithOneVm);

        // the last VM reaches the gateway's DNS port (the forwarder listens) but not the first VM: refused at once
        String first = network.info(vms.get(0)).address();
        String last = vms.get(VMS - 1);
        String gateway = network.info(last).gateway();
        assertThat(inNetns(last, "exec 3<>/dev/tcp/" + first + "/80")).contains("Connection refused");
        assertThat(inNetns(last, "exec 3<>/dev/tcp/" + gateway + "/53 && echo connected")).contains("connected");

        // every VM shows up for the reconciler
        assertThat(network.list().stream().filter(r -> r.kind() == HostResource.Kind.NETNS).map(HostResource::vmId).distinct())
                .containsExactlyInAnyOrderElementsOf(vms);
    }

    @Test
    void vmsOfTheBridgedLayoutAreMovedToRoutedVethsWhenTheNetworkOpensAgain() throws IOException {
        attach(2);
        String a = vms.get(0);
        String b = vms.get(1);
        // what the earlier layout left: both veths ports of the node's bridge, no /32 routes, a bridge-family table
        for (String vm : vms) {
            String veth = vethOf(vm);
            HostCommand.of("ip", "route", "del", network.info(vm).address() + "/32").check();
            HostCommand.of("ip", "link", "set", "dev", veth, "master", network.gatewayDevice()).check();
        }
        HostCommand.of("nft", "add", "table", "bridge", network.table()).check();
        network.close();
        network = NodeNetwork.open(settings, nodeId, stateDir);

        for (String vm : vms) assertThat(Path.of("/sys/class/net", vethOf(vm), "master")).doesNotExist();
        assertThat(HostCommand.of("nft", "list", "table", "bridge", network.table()).run().ok()).isFalse();
        assertThat(inNetns(a, "exec 3<>/dev/tcp/" + network.info(a).gateway() + "/53 && echo connected")).contains("connected");
        assertThat(inNetns(a, "exec 3<>/dev/tcp/" + network.info(b).address() + "/80")).contains("Connection refused");
    }

    private void attach(int n) {
        for (int i = 0; i < n; i++) {
            String vm = randomId(20);
            vms.add(vm);
            network.attach(vm, NetworkPolicy.ALLOW_ALL);
        }
    }

    /** Rules in the node's base chains (the VMs' own chains left out). */
    private int nodeRuleCount() {
        String listing = HostCommand.of("nft", "-a", "list", "table", "inet", network.table()).check().stdout();
        int rules = 0;
        boolean inVmChain = false;
        for (String line : listing.split("\n")) {
            String l = line.strip();
            if (l.startsWith("chain ")) inVmChain = l.startsWith("chain vm_");
            else if (!inVmChain && l.contains("# handle") && !l.startsWith("chain") && !l.startsWith("set")
                    && !l.startsWith("map") && !l.startsWith("table")) rules++;
        }
        return rules;
    }

    private static String vethOf(String vm) throws IOException {
        try (DirectoryStream<Path> ifs = Files.newDirectoryStream(Path.of("/sys/class/net"), "bv*")) {
            for (Path i : ifs) {
                try {
                    if (Files.readString(i.resolve("ifalias")).strip().endsWith(":" + vm)) return i.getFileName().toString();
                } catch (IOException noAlias) {
                    // not labelled
                }
            }
        }
        throw new AssertionError("no veth for " + vm);
    }

    private String inNetns(String vm, String script) {
        HostCommand.Result r = HostCommand.of("ip", "netns", "exec", "burrow-" + nodeId + "-" + vm, "timeout", "5",
                "bash", "-c", script).run();
        return r.stdout() + r.stderr();
    }

    private List<String> namespacesOfThisNode() throws IOException {
        List<String> out = new ArrayList<>();
        Path dir = Path.of("/run/netns");
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> ns = Files.newDirectoryStream(dir, "burrow-" + nodeId + "-*")) {
            for (Path p : ns) out.add(p.getFileName().toString());
        }
        return out;
    }

    private static String randomId(int n) {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) b.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        return b.toString();
    }
}
