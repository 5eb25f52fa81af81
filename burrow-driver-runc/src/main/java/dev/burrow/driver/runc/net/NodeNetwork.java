package dev.burrow.driver.runc.net;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.NetworkInfo;
import dev.burrow.core.net.Ipv4Cidr;
import dev.burrow.core.net.NetworkPolicy;
import dev.burrow.driver.runc.NetworkSettings;
import dev.burrow.driver.runc.internal.HostCommand;

/**
 * The VM network of one node, routed: no bridge, so no limit on VMs but the range (a Linux bridge takes 1,023
 * ports). Host side: a device {@code bw-<node>} (a bridge without ports: kernels without the dummy module have
 * bridges, and the earlier layout's bridge is the same device) holding the subnet's first address (gateway and DNS server of the VMs) and an nftables table {@code burrow_<node>} in
 * the inet family (anti-spoofing, NAT for egress, the host protected from VMs, VM-to-VM traffic refused, one chain
 * per VM with its egress policy), all keyed on the VMs' interface name prefix. Per VM: a named network namespace
 * {@code burrow-<node>-<vmId>} (which the container joins, so it outlives stops and the address stays), a veth
 * pair whose host end {@code bv<node><index>} carries a /32 route to the VM's address, proxy ARP (the VM thinks
 * the whole range is on its link: the host answers for all of it, so VM-to-VM packets come to the host and are
 * refused at once) and a permanent neighbour entry (the VM's MAC is derived from its address, so the host never
 * ARPs for VMs and thousands of them do not overflow the neighbour table), tc bandwidth limits on both ends, and
 * a lease file {@code <stateDir>/leases/<vmId>.json} holding the address and the policy (so a restart or a reboot
 * can rebuild everything without the store). VMs of the earlier layout (veth host ends enslaved to the bridge)
 * are moved off the bridge when the network opens; their namespaces and addresses are unchanged.
 *
 * <p>Every name carries the node, so servers with different node ids (and subnets) share a host safely. Callers
 * serialize operations on one VM (the driver's per-VM lock); allocation is serialized here.
 */
public final class NodeNetwork implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NodeNetwork.class);
    private static final ObjectMapper JSON = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final Path NETNS_DIR = Path.of("/run/netns");
    private static final Path SYS_NET = Path.of("/sys/class/net");
    /** Addresses resolved for an allowed domain stay open at least this long (resolvers cache past short TTLs). */
    private static final int MIN_RESOLVED_SECONDS = 300;
    /** How often the host's routes are read again for the private destinations (networks attached since). */
    private static final Duration PRIVATE_REFRESH = Duration.ofSeconds(5);
    /** VMs whose rules are restored in one nft transaction at open. */
    private static final int ADOPT_BATCH = 250;

    /** What the container needs to join its network: the namespace to enter and the resolv.conf to mount. */
    public record Attachment(Path netns, Path resolvConf) { }

    record Lease(String vmId, int index, String address, String veth, NetworkPolicy policy) { }

    private final NetworkSettings settings;
    private final String nodeId;
    private final String tag;
    /** Holds the gateway address; no VM is attached to it (VMs of the earlier layout are moved off at open). */
    private final String gatewayDevice;
    private final String table;
    private final int gateway;
    private final Path leasesDir;
    private final Path resolvConf;
    private final Map<String, Lease> leases = new ConcurrentHashMap<>();
    private final Map<String, String> vmByAddress = new ConcurrentHashMap<>();
    /** When each (vm, resolved address) element expires, to refresh it before it does. */
    private final Map<String, Long> resolvedUntil = new ConcurrentHashMap<>();
    private final DnsForwarder dns;
    /** What no VM may reach; read at start, then every {@link #PRIVATE_REFRESH}, written to nft when it changes. */
    private volatile PrivateDestinations privateDestinations;
    private final ScheduledExecutorService routeWatcher;

    private NodeNetwork(NetworkSettings settings, String nodeId, Path stateDir) {
        this.settings = settings;
        this.nodeId = nodeId;
        this.tag = tag(nodeId);
        this.gatewayDevice = "bw-" + tag;
        this.table = "burrow_" + tag;
        this.gateway = settings.subnet().address(1);
        this.leasesDir = stateDir.resolve("leases");
        this.resolvConf = stateDir.resolve("resolv.conf");
        try {
            Files.createDirectories(leasesDir);
            writeAtomically(resolvConf, "nameserver " + Ipv4Cidr.format(gateway) + "\noptions timeout:2 attempts:2\n");
        } catch (IOException e) {
            throw new DriverException("cannot create " + stateDir + ": " + e.getMessage(), e);
        }
        loadLeases();
        setUpHost();
        this.dns = new DnsForwarder(new InetSocketAddress(inet(gateway), 53), settings.dnsUpstreams(), new DnsForwarder.Clients() {
            @Override
            public NetworkPolicy policyFor(InetAddress client) {
                String vmId = vmByAddress.get(client.getHostAddress());
                Lease l = vmId == null ? null : leases.get(vmId);
                return l == null ? null : l.policy();
            }

            @Override
            public boolean blocked(Inet4Address address) {
                return privateDestinations.blocks(address);
            }

            @Override
            public void allowResolved(InetAddress client, List<Inet4Address> addresses, int ttlSeconds) {
                String vmId = vmByAddress.get(client.getHostAddress());
                if (vmId != null) NodeNetwork.this.allowResolved(vmId, addresses, ttlSeconds);
            }
        });
        adoptExistingVms();
        this.routeWatcher = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("vm-network-routes-" + tag).factory());
        routeWatcher.scheduleWithFixedDelay(this::refreshPrivateDestinations, PRIVATE_REFRESH.toMillis(),
                PRIVATE_REFRESH.toMillis(), TimeUnit.MILLISECONDS);
        log.atInfo().addKeyValue("gateway_device", gatewayDevice).addKeyValue("subnet", settings.subnet())
                .addKeyValue("dns_upstreams", settings.dnsUpstreams()).addKeyValue("allow_private", settings.allowPrivate())
                .log("VM network ready");
    }

    /** Sets up (or adopts after a restart) the node's bridge, rules and DNS forwarder. */
    public static NodeNetwork open(NetworkSettings settings, String nodeId, Path stateDir) {
        return new NodeNetwork(settings, nodeId, stateDir);
    }

    /** Short form of the node id used in interface names (15 characters at most on Linux). */
    static String tag(String nodeId) {
        if (nodeId.matches("[a-z0-9]{1,8}")) return nodeId;
        try {
            byte[] h = java.security.MessageDigest.getInstance("SHA-256").digest(nodeId.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h).substring(0, 8);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public String gatewayDevice() {
        return gatewayDevice;
    }

    public String table() {
        return table;
    }

    public Path netnsPath(String vmId) {
        return NETNS_DIR.resolve(netnsName(vmId));
    }

    private String netnsName(String vmId) {
        return "burrow-" + nodeId + "-" + vmId;
    }

    // ---- per VM ----

    /**
     * Gives a new VM its address, namespace, veth and rules; for a VM that has them already (a repeated create)
     * only makes sure they exist and carry {@code policy}.
     */
    public Attachment attach(String vmId, NetworkPolicy policy) {
        Lease lease = leases.get(vmId);
        if (lease == null) {
            lease = allocate(vmId, policy);
        } else if (!lease.policy().equals(policy)) {
            lease = new Lease(vmId, lease.index(), lease.address(), lease.veth(), policy);
            saveLease(lease);
        }
        plumb(lease, null);
        return new Attachment(netnsPath(vmId), resolvConf);
    }

    /**
     * Before a VM starts: rebuilds what a reboot (or a crash midway) removed. Null for a VM without a lease, made
     * before networking existed, which keeps the loopback-only namespace its bundle asks for.
     */
    public Attachment ensure(String vmId) {
        Lease lease = leases.get(vmId);
        if (lease == null) return null;
        boolean present = Files.exists(netnsPath(vmId)) && Files.exists(SYS_NET.resolve(lease.veth()));
        if (!present) plumb(lease, null);
        return new Attachment(netnsPath(vmId), resolvConf);
    }

    /** Replaces the VM's policy at once (rules and bandwidth) and records it in the lease. */
    public void apply(String vmId, NetworkPolicy policy) {
        Lease old = leases.get(vmId);
        if (old == null) throw new DriverException("VM " + vmId + " has no network on this host");
        Lease lease = new Lease(vmId, old.index(), old.address(), old.veth(), policy);
        plumb(lease, old.policy());
        saveLease(lease);
        leases.put(vmId, lease);
        resolvedUntil.keySet().removeIf(k -> k.startsWith(vmId + "|"));
    }

    /** rx + tx bytes of the VM's veth (host end), or -1 without a lease or interface. */
    public long trafficBytes(String vmId) {
        Lease l = leases.get(vmId);
        if (l == null) return -1;
        Path stats = SYS_NET.resolve(l.veth()).resolve("statistics");
        try {
            return Long.parseLong(Files.readString(stats.resolve("rx_bytes")).strip())
                    + Long.parseLong(Files.readString(stats.resolve("tx_bytes")).strip());
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
    }

    public NetworkInfo info(String vmId) {
        Lease l = leases.get(vmId);
        return l == null ? null : new NetworkInfo(l.address(), Ipv4Cidr.format(gateway));
    }

    /**
     * Removes everything the VM's network holds; whatever of it exists. Works from the lease when there is one,
     * otherwise (a crash between making a resource and writing the lease) from what the host shows.
     */
    public void detach(String vmId) {
        Lease lease = leases.get(vmId);
        if (lease == null) lease = readLease(leaseFile(vmId));
        String script = lease != null ? vmRemoval(lease) : vmRemovalFromHost(vmId);
        if (!script.isEmpty()) nft(script);
        if (Files.exists(netnsPath(vmId))) run("ip", "netns", "delete", netnsName(vmId));
        // The host end dies with the namespace; one left by a crash before the move is removed by its name (the
        // lease's) or, without a lease, by its label (a scan of every interface: only for that rare case).
        for (String veth : lease != null ? List.of(lease.veth()) : vethsOf(vmId)) {
            if (!Files.exists(SYS_NET.resolve(veth))) continue;
            HostCommand.Result r = HostCommand.of("ip", "link", "delete", veth).timeout(TIMEOUT).run();
            if (!r.ok() && Files.exists(SYS_NET.resolve(veth))) throw new DriverException(r.describeFailure());
        }
        try {
            Files.deleteIfExists(leaseFile(vmId));
        } catch (IOException e) {
            throw new DriverException("cannot remove " + leaseFile(vmId) + ": " + e.getMessage(), e);
        }
        if (lease != null) vmByAddress.remove(lease.address(), vmId);
        leases.remove(vmId);
        resolvedUntil.keySet().removeIf(k -> k.startsWith(vmId + "|"));
    }

    /** Network resources labelled with a VM id: namespaces, leases, veths and rule chains. */
    public List<HostResource> list() {
        List<HostResource> found = new ArrayList<>();
        String nsPrefix = "burrow-" + nodeId + "-";
        if (Files.isDirectory(NETNS_DIR)) {
            try (DirectoryStream<Path> ns = Files.newDirectoryStream(NETNS_DIR, nsPrefix + "*")) {
                for (Path p : ns) found.add(new HostResource(HostResource.Kind.NETNS, p.getFileName().toString().substring(nsPrefix.length()), p.toString()));
            } catch (IOException e) {
                throw new DriverException("cannot list " + NETNS_DIR + ": " + e.getMessage(), e);
            }
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(leasesDir, "*.json")) {
            for (Path p : files) {
                String name = p.getFileName().toString();
                found.add(new HostResource(HostResource.Kind.NETNS, name.substring(0, name.length() - 5), "lease " + p));
            }
        } catch (IOException e) {
            throw new DriverException("cannot list " + leasesDir + ": " + e.getMessage(), e);
        }
        for (Map.Entry<String, String> v : labelledVeths().entrySet()) {
            found.add(new HostResource(HostResource.Kind.NETNS, v.getValue(), "veth " + v.getKey()));
        }
        for (String chain : chainNames()) {
            if (chain.startsWith("vm_")) found.add(new HostResource(HostResource.Kind.NETNS, chain.substring(3), "nft chain " + table + " " + chain));
        }
        return found;
    }

    /**
     * The chains of this node's table, without their rules or any set's elements: listing the whole table took 13 s
     * at 2,500 VMs (1.5 MB of JSON, mostly set elements) and held nft's lock while every create and delete waited;
     * the chain names alone take a fraction of a second.
     */
    private List<String> chainNames() {
        HostCommand.Result r = HostCommand.of("nft", "-j", "list", "chains", "inet").timeout(TIMEOUT).run();
        if (!r.ok()) throw new DriverException(r.describeFailure());
        List<String> names = new ArrayList<>();
        try {
            for (JsonNode item : JSON.readTree(r.stdout()).path("nftables")) {
                JsonNode chain = item.path("chain");
                if (chain.path("table").asText("").equals(table)) names.add(chain.path("name").asText(""));
            }
        } catch (IOException e) {
            throw new DriverException("cannot parse nft output: " + e.getMessage(), e);
        }
        return names;
    }

    // ---- host plumbing ----

    private synchronized Lease allocate(String vmId, NetworkPolicy policy) {
        java.util.Set<Integer> used = new java.util.HashSet<>();
        for (Lease l : leases.values()) used.add(l.index());
        long last = settings.subnet().size() - 2; // the last address is the broadcast address
        for (int i = 2; i <= last; i++) {
            if (used.contains(i)) continue;
            Lease lease = new Lease(vmId, i, Ipv4Cidr.format(settings.subnet().address(i)), "bv" + tag + Integer.toHexString(i), policy);
            saveLease(lease);
            leases.put(vmId, lease);
            vmByAddress.put(lease.address(), vmId);
            return lease;
        }
        throw new DriverException("no free VM address left in " + settings.subnet() + " (" + leases.size() + " VMs)");
    }

    /**
     * Makes the VM's namespace, veth, addresses, rules and limits exist as {@code lease} says. A namespace that is
     * there already is kept (its processes keep their sockets); only missing parts are added.
     */
    private void plumb(Lease lease, NetworkPolicy previous) {
        String ns = netnsName(lease.vmId());
        boolean fresh = !Files.exists(netnsPath(lease.vmId()));
        if (fresh) run("ip", "netns", "add", ns);
        if (fresh || !Files.exists(SYS_NET.resolve(lease.veth()))) {
            if (Files.exists(SYS_NET.resolve(lease.veth()))) run("ip", "link", "delete", lease.veth());
            String mac = macOf(lease.address());
            // eth0 is created inside the namespace directly, so a crash never leaves it in the host's
            batch(null, "link add " + lease.veth() + " type veth peer name eth0 address " + mac + " netns " + ns,
                    "link set dev " + lease.veth() + " alias burrow:" + nodeId + ":" + lease.vmId());
            routeToVm(lease.veth());
            batch(null, "link set dev " + lease.veth() + " up",
                    "route replace " + lease.address() + "/32 dev " + lease.veth() + " src " + Ipv4Cidr.format(gateway),
                    "neigh replace " + lease.address() + " lladdr " + mac + " dev " + lease.veth() + " nud permanent");
            batch(ns, "addr replace " + lease.address() + "/" + settings.subnet().prefix() + " dev eth0",
                    "link set dev eth0 up",
                    "link set dev lo up",
                    "route replace default via " + Ipv4Cidr.format(gateway) + " dev eth0");
        }
        nft(vmRules(lease, true));
        Integer rate = lease.policy().bandwidthMbps();
        if (rate != null) {
            String[] tbf = tbf(rate);
            run(concat(List.of("tc", "qdisc", "replace", "dev", lease.veth(), "root"), tbf));
            run(concat(List.of("tc", "-n", ns, "qdisc", "replace", "dev", "eth0", "root"), tbf));
        } else if (previous != null && previous.bandwidthMbps() != null) {
            HostCommand.of("tc", "qdisc", "del", "dev", lease.veth(), "root").timeout(TIMEOUT).run();
            HostCommand.of("tc", "-n", ns, "qdisc", "del", "dev", "eth0", "root").timeout(TIMEOUT).run();
        }
        vmByAddress.put(lease.address(), lease.vmId());
    }

    /** Token bucket: the rate, a burst of 20 ms worth (at least a few packets), and 50 ms of queue. */
    static String[] tbf(int mbps) {
        long bytesPerSecond = mbps * 125_000L;
        long burst = Math.max(16 * 1024, bytesPerSecond / 50);
        return new String[] {"tbf", "rate", mbps + "mbit", "burst", Long.toString(burst), "latency", "50ms"};
    }

    private void allowResolved(String vmId, List<Inet4Address> addresses, int ttlSeconds) {
        // the forwarder strips these from answers already; a private address never enters an allow set regardless
        PrivateDestinations closed = privateDestinations;
        addresses = addresses.stream().filter(a -> !closed.blocks(a)).toList();
        int seconds = Math.max(MIN_RESOLVED_SECONDS, Math.min(ttlSeconds, 86_400));
        long now = System.currentTimeMillis();
        StringBuilder script = new StringBuilder();
        String set = "vm_" + vmId + "_dns";
        for (Inet4Address a : addresses) {
            String key = vmId + "|" + a.getHostAddress();
            Long until = resolvedUntil.get(key);
            // an element is refreshed once half its time has passed; "add" alone would not extend it
            if (until != null && until - now > seconds * 500L) continue;
            String e = a.getHostAddress();
            script.append("add element inet ").append(table).append(' ').append(set).append(" { ").append(e).append(" }\n")
                    .append("delete element inet ").append(table).append(' ').append(set).append(" { ").append(e).append(" }\n")
                    .append("add element inet ").append(table).append(' ').append(set).append(" { ").append(e)
                    .append(" timeout ").append(seconds).append("s }\n");
            resolvedUntil.put(key, now + seconds * 1000L);
        }
        if (!script.isEmpty()) nft(script.toString());
    }

    private void setUpHost() {
        checkSubnetIsFree();
        enableForwarding();
        String gw = Ipv4Cidr.format(gateway);
        if (!Files.exists(SYS_NET.resolve(gatewayDevice))) {
            HostCommand.Result r = HostCommand.of("ip", "link", "add", "name", gatewayDevice, "type", "bridge").timeout(TIMEOUT).run();
            if (!r.ok() && !Files.exists(SYS_NET.resolve(gatewayDevice))) throw new DriverException(r.describeFailure());
        }
        batch(null, "addr replace " + gw + "/" + settings.subnet().prefix() + " dev " + gatewayDevice,
                "link set dev " + gatewayDevice + " up");
        PrivateDestinations p = readPrivateDestinations();
        // the sets are filled in the same transaction that adds the rule reading them: never a moment without
        nft(NftRules.node(table, gatewayDevice, "bv" + tag, gw, settings.subnet().toString()) + NftRules.privateDestinations(table, p));
        privateDestinations = p;
    }

    /** The private destinations from the host's routes as they are now. */
    private PrivateDestinations readPrivateDestinations() {
        HostCommand.Result r = HostCommand.of("ip", "-j", "-4", "route", "show", "table", "all").timeout(TIMEOUT).check();
        try {
            return PrivateDestinations.fromRoutes(JSON.readTree(r.stdout()), settings.subnet(), settings.allowPrivate());
        } catch (IOException e) {
            throw new DriverException("cannot parse the host's routes: " + e.getMessage(), e);
        }
    }

    /** Rereads the host's routes; a network attached (or removed) since is closed (or dropped) in nft. */
    private synchronized void refreshPrivateDestinations() {
        try {
            PrivateDestinations p = readPrivateDestinations();
            if (p.equals(privateDestinations)) return;
            nft(NftRules.privateDestinations(table, p));
            privateDestinations = p;
            log.atInfo().addKeyValue("gateway_device", gatewayDevice).addKeyValue("private", p.blocked())
                    .log("private destinations of VMs changed with the host's routes");
        } catch (RuntimeException e) {
            log.atWarn().addKeyValue("gateway_device", gatewayDevice).log("cannot refresh the private destinations of VMs: " + e.getMessage());
        }
    }

    /**
     * The host end of a VM's veth: the VM sees the whole range on its link, so it ARPs for other VMs' addresses;
     * the host answers them (proxy ARP, at once rather than after a random delay) because it routes them elsewhere,
     * so VM-to-VM packets come to the host, whose forward rules refuse them at once (without an answer the VM's
     * connect would fail only when ARP gives up, seconds later, "No route to host"). No IPv6 on it (nothing of the
     * host is reachable over link-local), no ICMP redirects ("talk to that VM directly").
     */
    private static void routeToVm(String veth) {
        writeSysctl(Path.of("/proc/sys/net/ipv6/conf", veth, "disable_ipv6"), "1");
        writeSysctl(Path.of("/proc/sys/net/ipv4/conf", veth, "proxy_arp"), "1");
        writeSysctl(Path.of("/proc/sys/net/ipv4/neigh", veth, "proxy_delay"), "0");
        writeSysctl(Path.of("/proc/sys/net/ipv4/conf", veth, "send_redirects"), "0");
    }

    /** A locally administered unicast MAC made of the VM's address (unique in the range, stable across restarts). */
    static String macOf(String address) {
        int a = Ipv4Cidr.parseAddress(address);
        return String.format("02:42:%02x:%02x:%02x:%02x", (a >>> 24) & 0xff, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
    }

    /**
     * At open: the rules of VMs that already exist are rewritten from their leases (the table may have been
     * flushed, or this version may write them differently), in transactions of a few hundred VMs rather than one
     * nft run each; then VMs of the bridged layout are moved to routed veths (their host end leaves the bridge and
     * gets the route and proxy ARP; the VM's own side is unchanged). Until then the node rules refuse everything
     * coming from the bridge, so a VM is never unfiltered. Namespaces a reboot removed come back when the VM starts.
     */
    private void adoptExistingVms() {
        List<Lease> present = leases.values().stream().filter(l -> Files.exists(netnsPath(l.vmId()))).toList();
        StringBuilder script = new StringBuilder();
        int inScript = 0;
        for (Lease l : present) {
            script.append(vmRules(l, true));
            if (++inScript == ADOPT_BATCH) {
                restoreRules(script.toString(), present);
                script.setLength(0);
                inScript = 0;
            }
        }
        if (inScript > 0) restoreRules(script.toString(), present);
        List<String> moves = new ArrayList<>();
        for (Lease l : present) {
            Path veth = SYS_NET.resolve(l.veth());
            if (!Files.exists(veth)) continue;
            if (Files.exists(veth.resolve("master"))) moves.add("link set dev " + l.veth() + " nomaster");
            try {
                routeToVm(l.veth());
            } catch (DriverException e) {
                log.atWarn().addKeyValue("vm_id", l.vmId()).log("cannot adopt the VM's veth: " + e.getMessage());
                continue;
            }
            moves.add("route replace " + l.address() + "/32 dev " + l.veth() + " src " + Ipv4Cidr.format(gateway));
        }
        if (!moves.isEmpty()) {
            HostCommand.Result r = HostCommand.of("ip", "-force", "-batch", "-")
                    .stdin((String.join("\n", moves) + "\n").getBytes(StandardCharsets.UTF_8)).timeout(TIMEOUT).run();
            if (!r.ok()) log.warn("some VM routes could not be restored: " + r.describeFailure());
        }
    }

    private void restoreRules(String script, List<Lease> batchOf) {
        try {
            nft(script);
        } catch (RuntimeException batchFailed) {
            // one VM's rules must not keep the others from being restored: retry them one by one
            for (Lease l : batchOf) {
                if (!script.contains("vm_" + l.vmId() + " ")) continue;
                try {
                    nft(vmRules(l, true));
                } catch (RuntimeException e) {
                    log.atWarn().addKeyValue("vm_id", l.vmId()).log("cannot restore VM network rules: " + e.getMessage());
                }
            }
        }
    }

    private static void writeSysctl(Path f, String value) {
        try {
            if (!Files.readString(f).strip().equals(value)) Files.writeString(f, value);
        } catch (IOException e) {
            throw new DriverException("cannot set " + f + " to " + value + ": " + e.getMessage(), e);
        }
    }

    /** Two routes to one range would send some VMs' traffic elsewhere; refuse to start instead. */
    private void checkSubnetIsFree() {
        for (NetworkSettings.HostRoute r : NetworkSettings.hostRoutes()) {
            if (!r.device().equals(gatewayDevice) && !r.device().startsWith("bv" + tag) && r.destination().overlaps(settings.subnet())) {
                throw new DriverException("VM subnet " + settings.subnet() + " overlaps the host route " + r.destination()
                        + " on " + r.device() + "; choose a free range with --vm-subnet");
            }
        }
    }

    private static void enableForwarding() {
        Path f = Path.of("/proc/sys/net/ipv4/ip_forward");
        try {
            if (!Files.readString(f).strip().equals("1")) {
                // NAT for VM egress needs the host to route; this is what every container runtime does
                Files.writeString(f, "1");
                log.info("enabled IPv4 forwarding (net.ipv4.ip_forward=1) for VM egress");
            }
        } catch (IOException e) {
            throw new DriverException("cannot enable IPv4 forwarding: " + e.getMessage(), e);
        }
    }

    private String vmRules(Lease l, boolean withMembership) {
        return NftRules.vm(table, l.vmId(), l.address(), l.veth(), l.policy(), withMembership);
    }

    private String vmRemoval(Lease l) {
        return NftRules.vmRemoval(table, l.vmId(), l.address(), l.veth());
    }

    /** Removal of a VM's rules found by name on the host, for a VM whose lease is gone. */
    private String vmRemovalFromHost(String vmId) {
        StringBuilder s = new StringBuilder();
        String chain = "vm_" + vmId;
        JsonNode t = listTable();
        boolean hasChain = false;
        boolean hasSet = false;
        for (JsonNode item : t.path("nftables")) {
            if (item.path("chain").path("name").asText("").equals(chain)) hasChain = true;
            if (item.path("set").path("name").asText("").equals(chain + "_dns")) hasSet = true;
            JsonNode map = item.path("map");
            if (map.path("name").asText("").equals("vms")) {
                for (JsonNode e : map.path("elem")) {
                    if (e.isArray() && e.size() == 2 && e.get(1).path("jump").path("target").asText("").equals(chain)) {
                        s.append("delete element inet ").append(table).append(" vms { ").append(e.get(0).asText()).append(" }\n");
                    }
                }
            }
        }
        if (hasChain) s.append("flush chain inet ").append(table).append(' ').append(chain).append('\n')
                .append("delete chain inet ").append(table).append(' ').append(chain).append('\n');
        if (hasSet) s.append("delete set inet ").append(table).append(' ').append(chain).append("_dns\n");
        return s.toString();
    }

    private JsonNode listTable() {
        HostCommand.Result r = HostCommand.of("nft", "-j", "list", "table", "inet", table).timeout(TIMEOUT).run();
        if (!r.ok()) {
            if (r.stderr().contains("No such file")) return JSON.createObjectNode();
            throw new DriverException(r.describeFailure());
        }
        try {
            return JSON.readTree(r.stdout());
        } catch (IOException e) {
            throw new DriverException("cannot parse nft output: " + e.getMessage(), e);
        }
    }

    /** Host ends of veths, by interface name, labelled (ifalias) with this node and a VM id. */
    private Map<String, String> labelledVeths() {
        Map<String, String> out = new java.util.TreeMap<>();
        String prefix = "burrow:" + nodeId + ":";
        try (DirectoryStream<Path> ifs = Files.newDirectoryStream(SYS_NET, "bv" + tag + "*")) {
            for (Path p : ifs) {
                try {
                    String alias = Files.readString(p.resolve("ifalias")).strip();
                    if (alias.startsWith(prefix)) out.put(p.getFileName().toString(), alias.substring(prefix.length()));
                } catch (IOException gone) {
                    // removed while we looked
                }
            }
        } catch (IOException e) {
            throw new DriverException("cannot list " + SYS_NET + ": " + e.getMessage(), e);
        }
        return out;
    }

    private List<String> vethsOf(String vmId) {
        return labelledVeths().entrySet().stream().filter(e -> e.getValue().equals(vmId)).map(Map.Entry::getKey).toList();
    }

    // ---- leases ----

    private void loadLeases() {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(leasesDir, "*.json")) {
            for (Path p : files) {
                Lease l = readLease(p);
                if (l == null) continue;
                if (!settings.subnet().contains(Ipv4Cidr.parseAddress(l.address()))) {
                    // the node's range changed: keep the lease so the VM's network can be removed, but it will not
                    // be routed; recreating the VM gives it an address in the new range
                    log.atWarn().addKeyValue("vm_id", l.vmId()).log("VM address " + l.address() + " is outside " + settings.subnet());
                }
                leases.put(l.vmId(), l);
                vmByAddress.put(l.address(), l.vmId());
            }
        } catch (IOException e) {
            throw new DriverException("cannot read " + leasesDir + ": " + e.getMessage(), e);
        }
    }

    private Lease readLease(Path file) {
        if (!Files.exists(file)) return null;
        try {
            return JSON.readValue(file.toFile(), Lease.class);
        } catch (IOException | RuntimeException e) {
            log.atWarn().addKeyValue("path", file).log("unreadable VM network lease: " + e.getMessage());
            return null;
        }
    }

    private void saveLease(Lease lease) {
        try {
            writeAtomically(leaseFile(lease.vmId()), JSON.writeValueAsString(lease));
        } catch (IOException e) {
            throw new DriverException("cannot write the network lease of " + lease.vmId() + ": " + e.getMessage(), e);
        }
    }

    private Path leaseFile(String vmId) {
        return leasesDir.resolve(vmId + ".json");
    }

    private static void writeAtomically(Path file, String content) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    // ---- commands ----

    private static HostCommand.Result run(String... args) {
        return HostCommand.of(args).timeout(TIMEOUT).check();
    }

    private static HostCommand.Result run(List<String> args) {
        return HostCommand.of(args).timeout(TIMEOUT).check();
    }

    /** Several ip commands in one process (one fork instead of five on the create path). */
    private static void batch(String netns, String... commands) {
        List<String> args = new ArrayList<>(List.of("ip"));
        if (netns != null) args.addAll(List.of("-n", netns));
        args.addAll(List.of("-batch", "-"));
        HostCommand.of(args).stdin((String.join("\n", commands) + "\n").getBytes(StandardCharsets.UTF_8)).timeout(TIMEOUT).check();
    }

    /** One nft transaction: all of it applies or none (group-committed with concurrent callers' scripts). */
    static void nft(String script) {
        NftTransactions.apply(script, TIMEOUT);
    }

    private static List<String> concat(List<String> head, String[] tail) {
        List<String> out = new ArrayList<>(head);
        out.addAll(List.of(tail));
        return out;
    }

    private static InetAddress inet(int address) {
        try {
            return InetAddress.getByAddress(new byte[] {(byte) (address >>> 24), (byte) (address >>> 16), (byte) (address >>> 8), (byte) address});
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Stops the DNS forwarder. The gateway device and rules stay while VMs exist (they keep running without the server);
     * with none left, the node's network is removed from the host.
     */
    @Override
    public void close() {
        routeWatcher.shutdownNow();
        try {
            routeWatcher.awaitTermination(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        dns.close();
        boolean anyVm = !leases.isEmpty();
        if (!anyVm) {
            try (DirectoryStream<Path> ns = Files.newDirectoryStream(NETNS_DIR, "burrow-" + nodeId + "-*")) {
                anyVm = ns.iterator().hasNext();
            } catch (IOException e) {
                anyVm = false;
            }
        }
        if (anyVm) return;
        try {
            HostCommand.of("nft", "-f", "-").stdin(("add table inet " + table + "\ndelete table inet " + table + "\n"
                    + "add table bridge " + table + "\ndelete table bridge " + table + "\n").getBytes(StandardCharsets.UTF_8))
                    .timeout(TIMEOUT).check();
            if (Files.exists(SYS_NET.resolve(gatewayDevice))) run("ip", "link", "delete", gatewayDevice);
            Files.deleteIfExists(resolvConf);
        } catch (RuntimeException | IOException e) {
            log.atWarn().addKeyValue("gateway_device", gatewayDevice).log("cannot remove the node's VM network: " + e.getMessage());
        }
    }
}
