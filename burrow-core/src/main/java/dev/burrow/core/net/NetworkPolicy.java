package dev.burrow.core.net;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * A VM's network policy: what it may connect to and how much of the host's network it may use. Stored with the
 * VM's spec and changeable while the VM runs.
 *
 * <p>Egress is decided per connection, first match wins: a destination in {@code denyCidrs} is refused; an
 * established connection continues; a destination in {@code allowCidrs}, or an address the VM's DNS resolved for
 * an allowed domain, is accepted; anything else gets the default, {@code egress} ({@link Egress#ALLOW_ALL} or
 * {@link Egress#DENY_ALL}). Names are checked by the DNS forwarder the VM uses: a name in {@code denyDomains} (or,
 * under deny-all, one not in {@code allowDomains}) does not resolve. A domain matches itself and its subdomains.
 * Refused connections fail at once (TCP reset or ICMP admin-prohibited), they are never silently dropped.
 *
 * @param bandwidthMbps  cap in each direction in megabits per second, or null for none
 * @param maxConnections most connections the VM may have open at once, or null for none
 */
public record NetworkPolicy(Egress egress, List<String> allowCidrs, List<String> denyCidrs, List<String> allowDomains,
                            List<String> denyDomains, Integer bandwidthMbps, Integer maxConnections) {

    /** Most entries one list may hold: a policy is rules on the host, not a blocklist database. */
    public static final int MAX_ENTRIES = 256;
    public static final int MAX_BANDWIDTH_MBPS = 100_000;
    public static final int MAX_CONNECTIONS = 1_000_000;

    public static final NetworkPolicy ALLOW_ALL = new NetworkPolicy(Egress.ALLOW_ALL, null, null, null, null, null, null);

    private static final Pattern LABEL = Pattern.compile("[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?");

    public enum Egress {
        ALLOW_ALL("allow-all"), DENY_ALL("deny-all");

        private final String wire;

        Egress(String wire) {
            this.wire = wire;
        }

        public String wire() {
            return wire;
        }

        public static Egress fromWire(String s) {
            if (s == null) return ALLOW_ALL;
            for (Egress e : values()) if (e.wire.equals(s)) return e;
            throw invalid("'egress' must be allow-all or deny-all, got '" + s + "'");
        }
    }

    public NetworkPolicy {
        if (egress == null) egress = Egress.ALLOW_ALL;
        allowCidrs = cidrs("allowCidrs", allowCidrs);
        denyCidrs = cidrs("denyCidrs", denyCidrs);
        allowDomains = domains("allowDomains", allowDomains);
        denyDomains = domains("denyDomains", denyDomains);
        if (bandwidthMbps != null && (bandwidthMbps < 1 || bandwidthMbps > MAX_BANDWIDTH_MBPS)) {
            throw invalid("'bandwidthMbps' must be between 1 and " + MAX_BANDWIDTH_MBPS + ", got " + bandwidthMbps);
        }
        if (maxConnections != null && (maxConnections < 1 || maxConnections > MAX_CONNECTIONS)) {
            throw invalid("'maxConnections' must be between 1 and " + MAX_CONNECTIONS + ", got " + maxConnections);
        }
    }

    /** True when names matter: the DNS forwarder must filter them and other resolvers must be out of reach. */
    public boolean filtersDomains() {
        return !denyDomains.isEmpty() || (egress == Egress.DENY_ALL && !allowDomains.isEmpty());
    }

    /** Whether the VM's DNS may answer {@code name} (a query name, any case, with or without the final dot). */
    public boolean allowsName(String name) {
        String n = normalizeName(name);
        if (matchesAny(n, denyDomains)) return false;
        return egress == Egress.ALLOW_ALL || matchesAny(n, allowDomains);
    }

    /** Whether the addresses an allowed name resolved to must be let through explicitly (deny-all default). */
    public boolean tracksResolvedAddresses() {
        return egress == Egress.DENY_ALL && !allowDomains.isEmpty();
    }

    private static boolean matchesAny(String name, List<String> domains) {
        for (String d : domains) {
            if (name.equals(d) || name.endsWith("." + d)) return true;
        }
        return false;
    }

    private static String normalizeName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
    }

    private static List<String> cidrs(String field, List<String> values) {
        if (values == null) return List.of();
        if (values.size() > MAX_ENTRIES) throw invalid("'" + field + "' holds at most " + MAX_ENTRIES + " entries");
        List<String> out = new ArrayList<>();
        for (String v : values) {
            if (v == null) throw invalid("'" + field + "' contains null");
            try {
                out.add(Ipv4Cidr.parse(v.strip()).toString());
            } catch (IllegalArgumentException e) {
                throw invalid("'" + field + "': " + e.getMessage());
            }
        }
        return List.copyOf(out);
    }

    private static List<String> domains(String field, List<String> values) {
        if (values == null) return List.of();
        if (values.size() > MAX_ENTRIES) throw invalid("'" + field + "' holds at most " + MAX_ENTRIES + " entries");
        List<String> out = new ArrayList<>();
        for (String v : values) {
            if (v == null) throw invalid("'" + field + "' contains null");
            String d = normalizeName(v.strip());
            // "*.example.com" reads naturally; a domain covers its subdomains anyway
            if (d.startsWith("*.")) d = d.substring(2);
            if (d.isEmpty() || d.length() > 253) throw invalid("'" + field + "': not a domain name: '" + v + "'");
            for (String label : d.split("\\.", -1)) {
                if (!LABEL.matcher(label).matches()) throw invalid("'" + field + "': not a domain name: '" + v + "'");
            }
            out.add(d);
        }
        return List.copyOf(out);
    }

    private static BurrowException invalid(String message) {
        return BurrowException.of(ErrorCode.INVALID_NETWORK_POLICY, message);
    }
}
