package dev.burrow.driver.runc.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.burrow.core.net.Ipv4Cidr;
import dev.burrow.core.net.NetworkPolicy;

class NftRulesTest {

    @Test
    void allowAllAcceptsByDefaultAndDenyAllRefuses() {
        String allow = NftRules.vm("burrow_n1", "vm1", "10.0.0.2", "bvn12", NetworkPolicy.ALLOW_ALL, true);
        assertThat(allow).endsWith("add rule inet burrow_n1 vm_vm1 accept\n"
                + "add element inet burrow_n1 vms { 10.0.0.2 : jump vm_vm1 }\n"
                + "add element inet burrow_n1 ports { \"bvn12\" . 10.0.0.2 }\n");
        NetworkPolicy deny = new NetworkPolicy(NetworkPolicy.Egress.DENY_ALL, null, null, null, null, null, null);
        String d = NftRules.vm("burrow_n1", "vm1", "10.0.0.2", "bvn12", deny, false);
        assertThat(d).endsWith("add rule inet burrow_n1 vm_vm1 jump refuse\n").doesNotContain("add element");
    }

    @Test
    void rulesComeInPolicyOrder() {
        NetworkPolicy p = new NetworkPolicy(NetworkPolicy.Egress.DENY_ALL, List.of("192.0.2.0/24"), List.of("10.0.0.0/8"),
                List.of("example.com"), null, null, 50);
        List<String> lines = List.of(NftRules.vm("t", "v", "10.0.0.2", "bv", p, false).split("\n"));
        int limit = indexOf(lines, "ct count over 50 jump refuse");
        int deny = indexOf(lines, "ip daddr { 10.0.0.0/8 } jump refuse");
        int dns = indexOf(lines, "th dport { 53, 853 } jump refuse");
        int established = indexOf(lines, "ct state established,related accept");
        int allow = indexOf(lines, "ip daddr { 192.0.2.0/24 } accept");
        int resolved = indexOf(lines, "ip daddr @vm_v_dns accept");
        int last = indexOf(lines, "vm_v jump refuse");
        assertThat(List.of(limit, deny, dns, established, allow, resolved, last)).isSorted().doesNotContain(-1);
    }

    @Test
    void nestedRangesAreMergedIntoTheOuterOne() {
        assertThat(NftRules.set(List.of("10.1.0.0/16", "10.0.0.0/8", "192.0.2.1/32", "10.0.0.0/8")))
                .isEqualTo("{ 10.0.0.0/8, 192.0.2.1/32 }");
    }

    @Test
    void nodeRulesLetVmsReachOnlyDnsOnTheHostWhateverTheirNumber() {
        String s = NftRules.node("burrow_n1", "bw-n1", "bvn1", "10.9.0.1", "10.9.0.0/18");
        // keyed on the VMs' interface name prefix: no per-bridge or per-port limit
        assertThat(s).contains("input iifname \"bvn1*\" ip daddr 10.9.0.1 udp dport 53 accept")
                .contains("input iifname \"bvn1*\" jump refuse")
                .contains("forward iifname \"bvn1*\" oifname \"bvn1*\" jump refuse")
                .contains("forward iifname \"bvn1*\" ip daddr 10.9.0.0/18 jump refuse")
                .contains("ip saddr 10.9.0.0/18 oifname != \"bvn1*\" oifname != \"bw-n1\" masquerade");
        // VMs still on the bridge of the earlier layout are refused whole until they are moved off it
        assertThat(s).contains("input iifname \"bw-n1\" jump refuse").contains("forward iifname \"bw-n1\" jump refuse");
        // idempotent: every base chain is flushed before it is filled
        for (String chain : List.of("refuse", "prerouting", "input", "forward", "output", "postrouting")) {
            assertThat(s).contains("flush chain inet burrow_n1 " + chain);
        }
    }

    @Test
    void privateDestinationsAreRefusedForEveryVmBeforeItsOwnChainUnlessOpened() {
        List<String> lines = List.of(NftRules.node("burrow_n1", "bw-n1", "bvn1", "10.9.0.1", "10.9.0.0/18").split("\n"));
        int vmToVm = indexOf(lines, "forward iifname \"bvn1*\" oifname \"bvn1*\" jump refuse");
        int closed = indexOf(lines, "forward iifname \"bvn1*\" ip daddr != @private_allowed ip daddr @private_dst jump refuse");
        int vmChains = indexOf(lines, "forward iifname \"bvn1*\" ip saddr vmap @vms");
        assertThat(List.of(vmToVm, closed, vmChains)).isSorted().doesNotContain(-1);

        var p = new PrivateDestinations(List.of(Ipv4Cidr.parse("10.0.0.0/8"), Ipv4Cidr.parse("10.9.0.0/20"),
                Ipv4Cidr.parse("169.254.0.0/16")), List.of(), List.of(Ipv4Cidr.parse("169.254.169.254/32")));
        assertThat(NftRules.privateDestinations("burrow_n1", p)).isEqualTo("flush set inet burrow_n1 private_dst\n"
                + "add element inet burrow_n1 private_dst { 10.0.0.0/8, 169.254.0.0/16 }\n"
                + "flush set inet burrow_n1 private_allowed\n"
                + "add element inet burrow_n1 private_allowed { 169.254.169.254/32 }\n");
        var none = new PrivateDestinations(List.of(Ipv4Cidr.parse("10.0.0.0/8")), List.of(), List.of());
        assertThat(NftRules.privateDestinations("t", none)).endsWith("flush set inet t private_allowed\n");
    }

    @Test
    void aVmMaySendOnlyFromItsOwnAddressThroughItsOwnVethAndNoIpv6() {
        String s = NftRules.node("burrow_n1", "bw-n1", "bvn1", "10.9.0.1", "10.9.0.0/18");
        List<String> lines = List.of(s.split("\n"));
        int chain = indexOf(lines, "add chain inet burrow_n1 prerouting { type filter hook prerouting priority raw;");
        int spoof = indexOf(lines, "prerouting iifname \"bvn1*\" iifname . ip saddr != @ports drop");
        int v6 = indexOf(lines, "prerouting iifname \"bvn1*\" meta nfproto ipv6 drop");
        assertThat(List.of(chain, spoof, v6)).doesNotContain(-1);
        // the earlier layout's bridge-family table goes
        assertThat(s).contains("delete table bridge burrow_n1");
        assertThat(NftRules.vmRemoval("burrow_n1", "vm1", "10.9.0.2", "bvn12"))
                .contains("delete element inet burrow_n1 ports { \"bvn12\" . 10.9.0.2 }");
    }

    @Test
    void aVmsMacAddressIsMadeOfItsIpv4Address() {
        assertThat(NodeNetwork.macOf("10.9.0.2")).isEqualTo("02:42:0a:09:00:02");
        assertThat(NodeNetwork.macOf("10.9.63.254")).isEqualTo("02:42:0a:09:3f:fe");
    }

    @Test
    void bandwidthBurstCoversAtLeastAFewPackets() {
        assertThat(NodeNetwork.tbf(1)).containsSequence("rate", "1mbit", "burst", "16384");
        assertThat(NodeNetwork.tbf(1000)).containsSequence("burst", "2500000");
    }

    private static int indexOf(List<String> lines, String fragment) {
        for (int i = 0; i < lines.size(); i++) if (lines.get(i).contains(fragment)) return i;
        return -1;
    }
}
