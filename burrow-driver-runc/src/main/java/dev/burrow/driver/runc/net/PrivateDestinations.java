package dev.burrow.driver.runc.net;

import java.net.Inet4Address;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.net.Ipv4Cidr;

/**
 * Destinations no VM may reach, whatever its policy: the private and special ranges of {@link #ALWAYS}, the
 * networks directly attached to the host (routes without a gateway, in any routing table: the host's LANs, other
 * nodes' VM bridges, container networks), the node's own VM range (the gateway and other VMs) and every address
 * of the host itself. The operator may open ranges of the first two kinds ({@code --vm-allow-private}); the
 * host's own addresses and the node's VM range stay closed even then.
 *
 * <p>A snapshot: the host's routes change (interfaces come and go), so the node network reads a fresh one
 * periodically and rewrites the nftables set from it.
 *
 * @param blocked   closed unless {@code excepted} covers them (nested ranges merged, as nft wants them)
 * @param never     closed even when {@code excepted} covers them: the host's addresses and the VM range
 * @param excepted  the operator's {@code --vm-allow-private} ranges
 */
record PrivateDestinations(List<Ipv4Cidr> blocked, List<Ipv4Cidr> never, List<Ipv4Cidr> excepted) {

    /**
     * Ranges closed on every host: "this network", RFC 1918, shared address space (CGNAT, RFC 6598; Alibaba's
     * metadata service is 100.100.100.200), loopback, link-local (the metadata services of most clouds live at
     * 169.254.169.254) and Azure's host endpoint 168.63.129.16 (a public address that only a cloud host answers).
     */
    static final List<Ipv4Cidr> ALWAYS = Stream.of("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
            "168.63.129.16/32", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16").map(Ipv4Cidr::parse).toList();

    PrivateDestinations {
        blocked = merged(blocked);
        never = merged(never);
        excepted = merged(excepted);
    }

    /**
     * From the host's routes as {@code ip -j -4 route show table all} prints them: routes with neither a gateway
     * nor multipath next hops are directly attached networks; {@code local} entries are the host's own addresses.
     */
    static PrivateDestinations fromRoutes(JsonNode routes, Ipv4Cidr vmSubnet, List<Ipv4Cidr> excepted) {
        List<Ipv4Cidr> blocked = new ArrayList<>(ALWAYS);
        List<Ipv4Cidr> never = new ArrayList<>(List.of(vmSubnet));
        blocked.add(vmSubnet);
        for (JsonNode r : routes) {
            String dst = r.path("dst").asText("");
            String type = r.path("type").asText("unicast");
            if (dst.isEmpty() || dst.equals("default")) continue;
            Ipv4Cidr c;
            try {
                c = Ipv4Cidr.parse(dst);
            } catch (IllegalArgumentException e) {
                continue; // not an IPv4 range
            }
            if (type.equals("local")) {
                never.add(c);
                blocked.add(c);
            } else if (type.equals("unicast") && c.prefix() > 0 && !r.has("gateway") && !r.has("nexthops") && !r.has("via")) {
                blocked.add(c);
            }
        }
        return new PrivateDestinations(blocked, never, excepted);
    }

    /** Whether no VM may be handed (or reach) this address. */
    boolean blocks(Inet4Address address) {
        byte[] b = address.getAddress();
        int a = ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
        return covers(never, a) || (covers(blocked, a) && !covers(excepted, a));
    }

    private static boolean covers(List<Ipv4Cidr> ranges, int address) {
        for (Ipv4Cidr c : ranges) if (c.contains(address)) return true;
        return false;
    }

    /** Distinct ranges, those inside another listed range left out, in address order. */
    static List<Ipv4Cidr> merged(List<Ipv4Cidr> ranges) {
        List<Ipv4Cidr> distinct = ranges.stream().distinct().toList();
        List<Ipv4Cidr> kept = new ArrayList<>();
        for (Ipv4Cidr c : distinct) {
            boolean covered = false;
            for (Ipv4Cidr o : distinct) {
                if (!o.equals(c) && o.prefix() <= c.prefix() && o.overlaps(c)) covered = true;
            }
            if (!covered) kept.add(c);
        }
        kept.sort(Comparator.comparingLong((Ipv4Cidr c) -> Integer.toUnsignedLong(c.network())).thenComparingInt(Ipv4Cidr::prefix));
        return List.copyOf(kept);
    }
}
