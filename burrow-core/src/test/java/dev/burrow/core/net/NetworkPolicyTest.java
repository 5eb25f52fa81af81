package dev.burrow.core.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.burrow.core.error.BurrowException;

class NetworkPolicyTest {

    private static NetworkPolicy policy(NetworkPolicy.Egress e, List<String> allowDomains, List<String> denyDomains) {
        return new NetworkPolicy(e, null, null, allowDomains, denyDomains, null, null);
    }

    @Test
    void defaultsAllowEverythingWithoutLimits() {
        NetworkPolicy p = new NetworkPolicy(null, null, null, null, null, null, null);
        assertThat(p).isEqualTo(NetworkPolicy.ALLOW_ALL);
        assertThat(p.allowsName("anything.example")).isTrue();
        assertThat(p.filtersDomains()).isFalse();
        assertThat(p.tracksResolvedAddresses()).isFalse();
    }

    @Test
    void domainsMatchThemselvesAndSubdomainsOnly() {
        NetworkPolicy p = policy(NetworkPolicy.Egress.DENY_ALL, List.of("Example.COM.", "*.pypi.org"), List.of());
        assertThat(p.allowDomains()).containsExactly("example.com", "pypi.org");
        assertThat(p.allowsName("example.com")).isTrue();
        assertThat(p.allowsName("API.example.com.")).isTrue();
        assertThat(p.allowsName("files.pypi.org")).isTrue();
        assertThat(p.allowsName("badexample.com")).isFalse();
        assertThat(p.allowsName("example.com.evil.net")).isFalse();
        assertThat(p.tracksResolvedAddresses()).isTrue();
        assertThat(p.filtersDomains()).isTrue();
    }

    @Test
    void denyDomainsWinOverAllowAll() {
        NetworkPolicy p = policy(NetworkPolicy.Egress.ALLOW_ALL, List.of(), List.of("tracker.net"));
        assertThat(p.allowsName("x.tracker.net")).isFalse();
        assertThat(p.allowsName("tracker.network")).isTrue();
        assertThat(p.filtersDomains()).isTrue();
        assertThat(p.tracksResolvedAddresses()).isFalse();
    }

    @Test
    void cidrsAreNormalized() {
        NetworkPolicy p = new NetworkPolicy(null, List.of("10.1.2.3/8", "192.0.2.7"), null, null, null, 10, 20);
        assertThat(p.allowCidrs()).containsExactly("10.0.0.0/8", "192.0.2.7/32");
    }

    @Test
    void invalidValuesAreBadRequests() {
        for (Runnable bad : List.<Runnable>of(
                () -> new NetworkPolicy(null, List.of("10.0.0.0/33"), null, null, null, null, null),
                () -> new NetworkPolicy(null, List.of("fe80::/64"), null, null, null, null, null),
                () -> new NetworkPolicy(null, List.of("256.1.1.1"), null, null, null, null, null),
                () -> new NetworkPolicy(null, null, java.util.Arrays.asList((String) null), null, null, null, null),
                () -> new NetworkPolicy(null, null, null, List.of("bad domain"), null, null, null),
                () -> new NetworkPolicy(null, null, null, List.of("-x.com"), null, null, null),
                () -> new NetworkPolicy(null, null, null, null, List.of(""), null, null),
                () -> new NetworkPolicy(null, null, null, null, null, 0, null),
                () -> new NetworkPolicy(null, null, null, null, null, null, 0),
                () -> NetworkPolicy.Egress.fromWire("maybe"))) {
            assertThatThrownBy(bad::run).isInstanceOfSatisfying(BurrowException.class, e -> {
                assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_REQUEST);
                assertThat(e.code()).isEqualTo("INVALID_NETWORK_POLICY");
            });
        }
    }

    @Test
    void cidrArithmetic() {
        Ipv4Cidr net = Ipv4Cidr.parse("10.192.16.0/20");
        assertThat(net.size()).isEqualTo(4096);
        assertThat(Ipv4Cidr.format(net.address(1))).isEqualTo("10.192.16.1");
        assertThat(net.contains(Ipv4Cidr.parseAddress("10.192.31.255"))).isTrue();
        assertThat(net.contains(Ipv4Cidr.parseAddress("10.192.32.0"))).isFalse();
        assertThat(net.overlaps(Ipv4Cidr.parse("10.0.0.0/8"))).isTrue();
        assertThat(net.overlaps(Ipv4Cidr.parse("10.192.32.0/20"))).isFalse();
    }
}
