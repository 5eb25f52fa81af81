package dev.burrow.core.net;

/**
 * An IPv4 network in CIDR notation, normalized (host bits cleared). A bare address is a /32. IPv6 is refused:
 * VMs have IPv4 networking only.
 */
public record Ipv4Cidr(int network, int prefix) {

    public Ipv4Cidr {
        if (prefix < 0 || prefix > 32) throw new IllegalArgumentException("prefix must be 0-32, got " + prefix);
        network = network & mask(prefix);
    }

    public static Ipv4Cidr parse(String s) {
        if (s == null || s.isBlank()) throw new IllegalArgumentException("empty CIDR");
        int slash = s.indexOf('/');
        String addr = slash < 0 ? s : s.substring(0, slash);
        int prefix = 32;
        if (slash >= 0) {
            String p = s.substring(slash + 1);
            if (!p.matches("\\d{1,2}")) throw new IllegalArgumentException("not an IPv4 CIDR: '" + s + "'");
            prefix = Integer.parseInt(p);
            if (prefix > 32) throw new IllegalArgumentException("not an IPv4 CIDR: '" + s + "'");
        }
        return new Ipv4Cidr(parseAddress(addr, s), prefix);
    }

    /** Parses a dotted-quad IPv4 address. */
    public static int parseAddress(String addr) {
        return parseAddress(addr, addr);
    }

    private static int parseAddress(String addr, String whole) {
        String[] parts = addr.split("\\.", -1);
        if (parts.length != 4) throw new IllegalArgumentException("not an IPv4 address or CIDR: '" + whole + "'");
        int v = 0;
        for (String p : parts) {
            if (!p.matches("\\d{1,3}")) throw new IllegalArgumentException("not an IPv4 address or CIDR: '" + whole + "'");
            int o = Integer.parseInt(p);
            if (o > 255) throw new IllegalArgumentException("not an IPv4 address or CIDR: '" + whole + "'");
            v = (v << 8) | o;
        }
        return v;
    }

    public static String format(int address) {
        return ((address >>> 24) & 255) + "." + ((address >>> 16) & 255) + "." + ((address >>> 8) & 255) + "." + (address & 255);
    }

    static int mask(int prefix) {
        return prefix == 0 ? 0 : -1 << (32 - prefix);
    }

    public boolean contains(int address) {
        return (address & mask(prefix)) == network;
    }

    public boolean overlaps(Ipv4Cidr other) {
        int p = Math.min(prefix, other.prefix);
        return (network & mask(p)) == (other.network & mask(p));
    }

    /** Number of addresses in the network. */
    public long size() {
        return 1L << (32 - prefix);
    }

    /** The address {@code index} places into the network (0 is the network address itself). */
    public int address(long index) {
        if (index < 0 || index >= size()) throw new IllegalArgumentException("index " + index + " outside " + this);
        return network + (int) index;
    }

    @Override
    public String toString() {
        return format(network) + "/" + prefix;
    }
}
