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
 * The network layer alone (namespaces, veths, routes, rules; no containers) past the 1,023 ports a Linux bridge
 * takes, which capped a node at 1,023 VMs when VMs were bridge ports. The 5,000-VM proof with containers is
 * {@code burrow bench scale 5000}.
 */
class NodeNetworkScaleTest {
    /** More than a bridge's 1,023 ports. */
    private static final int VMS = 1_100;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Path stateDir;
    private String nodeId;
    private NodeNetwork network;
    private final List<String> vms = new ArrayList<>();

    @BeforeEach
    void open() throws IOException {
        HostRequirements.requireRoot();
        HostRequirements.requireCommand("nft");
        nodeId = "s" + randomId(8);
        stateDir = Files.createTempDirectory("burrow-net-scale-");
        NetworkSettings settings = new NetworkSettings(NetworkSettings.pickFreeSubnet(new Random()),
                List.of(new InetSocketAddress("127.0.0.1", 53)));
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
    void aNodeGivesMoreVmsThanABridgeHasPortsEachItsOwnAddressAndKeepsThemApart() throws IOException {
        for (int i = 0; i < VMS; i++) {
            String vm = randomId(20);
            network.attach(vm, NetworkPolicy.ALLOW_ALL);
            vms.add(vm);
        }
        assertThat(namespacesOfThisNode()).hasSize(VMS);
        assertThat(vms.stream().map(vm -> network.info(vm).address()).distinct()).hasSize(VMS);

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
