package dev.burrow.driver.runc;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.burrow.core.net.Ipv4Cidr;

/**
 * VM networking of one node: the IPv4 range VM addresses come from (the first address is the node's gateway
 * device, the gateway and DNS server of its VMs), the DNS servers the node's DNS forwarder asks, and the private
 * ranges the operator opened to VMs.
 *
 * @param subnet       a private range no route of the host already covers; its prefix is between /12 and /28
 * @param dnsUpstreams where VM DNS queries go once the VM's policy allows the name
 * @param allowPrivate ranges VMs may reach although they are private, link-local or attached to the host
 *                     ({@code --vm-allow-private}); the host's own addresses and other VMs stay out of reach
 */
public record NetworkSettings(Ipv4Cidr subnet, List<InetSocketAddress> dnsUpstreams, List<Ipv4Cidr> allowPrivate) {
    public static final String DEFAULT_SUBNET = "10.213.0.0/16";

    public NetworkSettings {
        if (subnet.prefix() < 12 || subnet.prefix() > 28) {
            throw new IllegalArgumentException("VM subnet must be between /12 and /28, got " + subnet);
        }
        dnsUpstreams = List.copyOf(dnsUpstreams);
        if (dnsUpstreams.isEmpty()) throw new IllegalArgumentException("at least one upstream DNS server is needed");
        allowPrivate = allowPrivate == null ? List.of() : List.copyOf(allowPrivate);
    }

    /** A route of the host to a range (not the default route, not local or broadcast entries). */
    public record HostRoute(Ipv4Cidr destination, String device) { }

    /** The host's IPv4 routes to ranges, from every routing table. */
    public static List<HostRoute> hostRoutes() {
        var r = dev.burrow.driver.runc.internal.HostCommand.of("ip", "-j", "-4", "route", "show", "table", "all")
                .timeout(java.time.Duration.ofSeconds(30)).check();
        List<HostRoute> out = new ArrayList<>();
        try {
            for (var route : new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.stdout())) {
                String dst = route.path("dst").asText("");
                if (dst.isEmpty() || dst.equals("default") || route.path("type").asText("").matches("local|broadcast")) continue;
                try {
                    Ipv4Cidr c = Ipv4Cidr.parse(dst);
                    if (c.prefix() > 0) out.add(new HostRoute(c, route.path("dev").asText("")));
                } catch (IllegalArgumentException e) {
                    // not an IPv4 range (e.g. a multicast entry): irrelevant here
                }
            }
        } catch (java.io.IOException e) {
            throw new dev.burrow.core.driver.DriverException("cannot read the host's routes: " + e.getMessage(), e);
        }
        return out;
    }

    /** Prefix of the range a new data dir picks: 16,382 VM addresses, room for well over 5,000 VMs a node. */
    public static final int DEFAULT_PREFIX = 18;

    /**
     * A /18 from 10.192.0.0/10 that no host route touches, picked at random so that servers starting on one host at
     * the same time are unlikely to pick the same one (the gateway device's own route claims it once the server
     * runs). Data dirs keep the range they recorded (earlier ones a /20, 4,094 VMs).
     */
    public static Ipv4Cidr pickFreeSubnet(java.util.Random random) {
        List<HostRoute> routes = hostRoutes();
        int candidates = 1 << (DEFAULT_PREFIX - 10);
        int start = random.nextInt(candidates);
        for (int i = 0; i < candidates; i++) {
            int n = (start + i) % candidates;
            Ipv4Cidr c = new Ipv4Cidr(Ipv4Cidr.parseAddress("10.192.0.0") + (n << (32 - DEFAULT_PREFIX)), DEFAULT_PREFIX);
            if (routes.stream().noneMatch(r -> r.destination().overlaps(c))) return c;
        }
        throw new IllegalStateException("no free /" + DEFAULT_PREFIX + " left in 10.192.0.0/10 for VMs; give one with --vm-subnet");
    }

    /** Parses {@code host} or {@code host:port} (port 53 by default). */
    public static InetSocketAddress parseUpstream(String s) {
        String v = s.strip();
        int colon = v.lastIndexOf(':');
        if (colon > 0 && v.indexOf(':') == colon) {
            return new InetSocketAddress(v.substring(0, colon), Integer.parseInt(v.substring(colon + 1)));
        }
        return new InetSocketAddress(v, 53);
    }

    /** The nameservers of the host's {@code /etc/resolv.conf}; 127.0.0.53-style stubs work, the forwarder runs on the host. */
    public static List<InetSocketAddress> hostResolvers() {
        List<InetSocketAddress> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/etc/resolv.conf"))) {
                String[] f = line.strip().split("\\s+");
                if (f.length >= 2 && f[0].equals("nameserver") && !f[1].contains(":")) out.add(new InetSocketAddress(f[1], 53));
            }
        } catch (java.io.IOException | RuntimeException e) {
            // no resolv.conf: fall through to the empty list, which the caller reports
        }
        return out;
    }
}
