package dev.burrow.driver.runc.net;

import java.util.ArrayList;
import java.util.List;

import dev.burrow.core.net.Ipv4Cidr;
import dev.burrow.core.net.NetworkPolicy;

/**
 * The nftables scripts of a node's VM network, as text for {@code nft -f -} (one atomic transaction each). Every
 * script is idempotent: node chains are flushed and refilled, so running it again after a restart or an upgrade
 * gives the same rules, never duplicates.
 */
final class NftRules {
    /** The node's set of destinations closed to every VM. */
    static final String PRIVATE = "private_dst";
    /** The part of {@link #PRIVATE} the operator opened ({@code --vm-allow-private}). */
    static final String PRIVATE_ALLOWED = "private_allowed";

    private NftRules() { }

    /** Replaces the contents of the node's private sets (one transaction: no moment with an empty set). */
    static String privateDestinations(String table, PrivateDestinations p) {
        String t = "inet " + table;
        List<String> s = new ArrayList<>();
        s.add("flush set " + t + " " + PRIVATE);
        s.add("add element " + t + " " + PRIVATE + " " + elements(p.blocked()));
        s.add("flush set " + t + " " + PRIVATE_ALLOWED);
        if (!p.excepted().isEmpty()) s.add("add element " + t + " " + PRIVATE_ALLOWED + " " + elements(p.excepted()));
        s.add("");
        return String.join("\n", s);
    }

    /**
     * The node's table (inet). VMs are routed veths, not bridge ports: every VM's host end matches {@code
     * <vethPrefix>*}, so the rules are keyed on that interface name prefix and hold for any number of VMs.
     * <ul>
     * <li>prerouting (raw priority, before conntrack): a VM may only send IPv4 from its own address through its
     * own veth (the {@code ports} set of interface . address), so no VM can borrow another's policy; IPv6 from a
     * VM is dropped;</li>
     * <li>input: VMs reach the host only for DNS on the gateway (so not the API, the SSH gateway, host loopback
     * services or any other host address);</li>
     * <li>forward: VM to VM (and to unused addresses of the range) is refused; forwarding to a private destination
     * (the {@value #PRIVATE} set, see {@link PrivateDestinations}) is refused unless the operator opened it
     * ({@value #PRIVATE_ALLOWED}), for every VM and every packet, before any VM's own chain could accept it; nothing
     * from outside starts a connection to a VM; egress of a VM goes through its own chain, found by source address
     * in the {@code vms} verdict map;</li>
     * <li>output: no ICMP redirects to VMs; postrouting: egress is masqueraded.</li>
     * </ul>
     * The two private sets are declared empty here and filled by {@link #privateDestinations}, in the same
     * transaction at start. The bridge-family table of the earlier layout (one bridge, anti-spoofing per bridge
     * port) is removed: a data dir's VMs are moved off the bridge when the node network opens.
     */
    static String node(String table, String gatewayDevice, String vethPrefix, String gateway, String subnet) {
        String vm = quote(vethPrefix + "*");
        String t = "inet " + table;
        return String.join("\n",
                "add table " + t,
                "add map " + t + " vms { type ipv4_addr : verdict; }",
                "add set " + t + " " + PRIVATE + " { type ipv4_addr; flags interval; }",
                "add set " + t + " " + PRIVATE_ALLOWED + " { type ipv4_addr; flags interval; }",
                "add set " + t + " ports { type ifname . ipv4_addr; }",
                "add chain " + t + " refuse",
                "flush chain " + t + " refuse",
                // refused, not dropped: a denied connection fails at once instead of hanging until a timeout
                "add rule " + t + " refuse meta l4proto tcp reject with tcp reset",
                "add rule " + t + " refuse reject with icmpx type admin-prohibited",
                "add chain " + t + " prerouting { type filter hook prerouting priority raw; policy accept; }",
                "flush chain " + t + " prerouting",
                "add rule " + t + " prerouting iifname " + vm + " meta nfproto ipv6 drop",
                "add rule " + t + " prerouting iifname " + vm + " iifname . ip saddr != @ports drop",
                "add chain " + t + " input { type filter hook input priority -5; policy accept; }",
                "flush chain " + t + " input",
                "add rule " + t + " input iifname " + vm + " ct state established,related accept",
                "add rule " + t + " input iifname " + vm + " ip daddr " + gateway + " udp dport 53 accept",
                "add rule " + t + " input iifname " + vm + " ip daddr " + gateway + " tcp dport 53 accept",
                "add rule " + t + " input iifname " + vm + " jump refuse",
                // a VM still on the bridge of the earlier layout, until it is moved off (at open): refused whole
                "add rule " + t + " input iifname " + quote(gatewayDevice) + " jump refuse",
                "add chain " + t + " forward { type filter hook forward priority -5; policy accept; }",
                "flush chain " + t + " forward",
                "add rule " + t + " forward iifname " + quote(gatewayDevice) + " jump refuse",
                "add rule " + t + " forward iifname " + vm + " oifname " + vm + " jump refuse",
                "add rule " + t + " forward iifname " + vm + " ip daddr " + subnet + " jump refuse",
                "add rule " + t + " forward oifname " + vm + " ct state established,related accept",
                "add rule " + t + " forward oifname " + vm + " drop",
                // whatever the VM's policy: its chain comes after this, so no allow rule or resolved name opens these
                "add rule " + t + " forward iifname " + vm + " ip daddr != @" + PRIVATE_ALLOWED + " ip daddr @" + PRIVATE + " jump refuse",
                "add rule " + t + " forward iifname " + vm + " ip saddr vmap @vms",
                "add rule " + t + " forward iifname " + vm + " jump refuse",
                // the host routes VM-to-VM packets (proxy ARP) only to refuse them: it must not redirect the VM
                "add chain " + t + " output { type filter hook output priority -5; policy accept; }",
                "flush chain " + t + " output",
                "add rule " + t + " output oifname " + vm + " icmp type redirect drop",
                "add chain " + t + " postrouting { type nat hook postrouting priority srcnat; policy accept; }",
                "flush chain " + t + " postrouting",
                "add rule " + t + " postrouting ip saddr " + subnet + " oifname != " + vm + " oifname != " + quote(gatewayDevice)
                        + " masquerade",
                "add table bridge " + table,
                "delete table bridge " + table,
                "");
    }

    /**
     * One VM's egress chain, replaced whole. Order: the connection limit; denied ranges (every packet, so a new
     * deny cuts existing connections too); other DNS servers when names are filtered (the VM's own forwarder is on
     * the host, not forwarded); established traffic; allowed ranges and addresses resolved for allowed names; the
     * default. With {@code membership}, the VM's entries in the verdict map and the port set (its veth . address, the
     * anti-spoofing key) are (re)added too.
     */
    static String vm(String table, String vmId, String address, String veth, NetworkPolicy p, boolean membership) {
        String t = "inet " + table;
        String chain = "vm_" + vmId;
        List<String> s = new ArrayList<>();
        s.add("add chain " + t + " " + chain);
        s.add("add set " + t + " " + chain + "_dns { type ipv4_addr; flags timeout; }");
        s.add("flush chain " + t + " " + chain);
        String r = "add rule " + t + " " + chain + " ";
        if (p.maxConnections() != null) s.add(r + "ct state new ct count over " + p.maxConnections() + " jump refuse");
        if (!p.denyCidrs().isEmpty()) s.add(r + "ip daddr " + set(p.denyCidrs()) + " jump refuse");
        if (p.filtersDomains()) s.add(r + "meta l4proto { tcp, udp } th dport { 53, 853 } jump refuse");
        s.add(r + "ct state established,related accept");
        if (!p.allowCidrs().isEmpty()) s.add(r + "ip daddr " + set(p.allowCidrs()) + " accept");
        if (p.tracksResolvedAddresses()) s.add(r + "ip daddr @" + chain + "_dns accept");
        s.add(r + (p.egress() == NetworkPolicy.Egress.ALLOW_ALL ? "accept" : "jump refuse"));
        if (membership) {
            s.add("add element " + t + " vms { " + address + " : jump " + chain + " }");
            s.add("add element " + t + " ports { " + quote(veth) + " . " + address + " }");
        }
        s.add("");
        return String.join("\n", s);
    }

    /** Removes a VM's chain, set and entries, whichever of them exist (each is added first so removal cannot fail). */
    static String vmRemoval(String table, String vmId, String address, String veth) {
        String t = "inet " + table;
        String chain = "vm_" + vmId;
        return String.join("\n",
                "add chain " + t + " " + chain,
                "add set " + t + " " + chain + "_dns { type ipv4_addr; flags timeout; }",
                "add element " + t + " vms { " + address + " : jump " + chain + " }",
                "delete element " + t + " vms { " + address + " }",
                "flush chain " + t + " " + chain,
                "delete chain " + t + " " + chain,
                "delete set " + t + " " + chain + "_dns",
                "add element " + t + " ports { " + quote(veth) + " . " + address + " }",
                "delete element " + t + " ports { " + quote(veth) + " . " + address + " }",
                "");
    }

    /**
     * An anonymous set of ranges. Ranges inside another listed range are left out: nft refuses overlapping
     * intervals in one set, and the outer range already covers them.
     */
    static String set(List<String> cidrs) {
        return elements(cidrs.stream().map(Ipv4Cidr::parse).toList());
    }

    private static String elements(List<Ipv4Cidr> ranges) {
        return "{ " + String.join(", ", PrivateDestinations.merged(ranges).stream().map(Ipv4Cidr::toString).toList()) + " }";
    }

    private static String quote(String s) {
        return "\"" + s + "\"";
    }
}
