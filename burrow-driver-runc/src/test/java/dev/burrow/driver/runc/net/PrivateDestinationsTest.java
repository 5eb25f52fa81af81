package dev.burrow.driver.runc.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.List;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.burrow.core.net.Ipv4Cidr;

class PrivateDestinationsTest {
    private static final Ipv4Cidr VM_SUBNET = Ipv4Cidr.parse("10.192.16.0/20");

    /** Routes as {@code ip -j -4 route show table all} prints them on a host on a public /24 with one VM bridge. */
    private static JsonNode routes() throws Exception {
        return new ObjectMapper().readTree("""
                [{"dst":"default","gateway":"198.51.100.1","dev":"eth0","flags":[]},
                 {"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.20","flags":[]},
                 {"dst":"10.192.16.0/20","dev":"bw-n1","protocol":"kernel","scope":"link","prefsrc":"10.192.16.1","flags":[]},
                 {"dst":"203.0.113.0/24","gateway":"198.51.100.254","dev":"eth0","flags":[]},
                 {"dst":"192.0.2.0/24","dev":"eth0","nexthops":[{"gateway":"198.51.100.2"}],"flags":[]},
                 {"type":"blackhole","dst":"100.100.0.0/16","flags":[]},
                 {"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","flags":[]},
                 {"type":"local","dst":"198.51.100.20","dev":"eth0","table":"local","flags":[]},
                 {"type":"local","dst":"10.192.16.1","dev":"bw-n1","table":"local","flags":[]},
                 {"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","flags":[]}]
                """);
    }

    private static Inet4Address ip(String s) throws Exception {
        return (Inet4Address) InetAddress.getByName(s);
    }

    @Test
    void privateLinkLocalLoopbackAttachedNetworksAndTheHostAreClosed() throws Exception {
        PrivateDestinations p = PrivateDestinations.fromRoutes(routes(), VM_SUBNET, List.of());
        for (String closed : List.of("10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
                "100.127.255.254", "100.100.100.200", "168.63.129.16", "169.254.169.254", "127.0.0.1", "0.0.0.0", "198.51.100.7", "198.51.100.20",
                "10.192.16.1", "10.192.16.9")) {
            assertThat(p.blocks(ip(closed))).as(closed).isTrue();
        }
        // public, or only reached through a gateway (not attached), or neighbours of the private ranges
        for (String open : List.of("8.8.8.8", "203.0.113.9", "192.0.2.5", "172.32.0.1", "100.128.0.1", "11.0.0.1",
                "169.253.255.255", "192.169.0.1")) {
            assertThat(p.blocks(ip(open))).as(open).isFalse();
        }
        assertThat(p.blocked()).as("merged: nested ranges left out, sorted")
                .extracting(Ipv4Cidr::toString)
                .containsExactly("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "168.63.129.16/32", "169.254.0.0/16",
                        "172.16.0.0/12", "192.168.0.0/16", "198.51.100.0/24");
    }

    @Test
    void theOperatorOpensRangesButNeverTheHostOrTheVmRange() throws Exception {
        PrivateDestinations p = PrivateDestinations.fromRoutes(routes(), VM_SUBNET,
                List.of(Ipv4Cidr.parse("169.254.169.254/32"), Ipv4Cidr.parse("10.0.0.0/8"), Ipv4Cidr.parse("198.51.100.0/24")));
        assertThat(p.blocks(ip("169.254.169.254"))).isFalse();
        assertThat(p.blocks(ip("169.254.169.253"))).isTrue();
        assertThat(p.blocks(ip("10.1.2.3"))).isFalse();
        assertThat(p.blocks(ip("198.51.100.7"))).isFalse();
        assertThat(p.blocks(ip("198.51.100.20"))).as("the host's own address").isTrue();
        assertThat(p.blocks(ip("10.192.16.9"))).as("another VM").isTrue();
        assertThat(p.blocks(ip("10.192.16.1"))).as("the gateway").isTrue();
        assertThat(p.blocks(ip("127.0.0.1"))).isTrue();
    }
}
