package dev.burrow.driver.runc.net;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The little of RFC 1035 the forwarder needs: a query's first question name, the IPv4 addresses (and smallest TTL)
 * in a response's answer section, a response without some A records, and a refusal made from a query. Anything
 * malformed throws {@link IllegalArgumentException}; the forwarder then drops the packet.
 */
final class DnsMessage {
    static final int RCODE_SERVFAIL = 2;
    static final int RCODE_NXDOMAIN = 3;
    static final int RCODE_REFUSED = 5;
    private static final int HEADER = 12;

    private DnsMessage() { }

    static int id(byte[] m, int len) {
        need(len >= HEADER, "short message");
        return u16(m, 0);
    }

    static boolean isQuery(byte[] m, int len) {
        return len >= HEADER && (m[2] & 0x80) == 0;
    }

    /** Whether the TC bit says the message was truncated (the answer did not fit a UDP datagram). */
    static boolean truncated(byte[] m, int len) {
        return len >= HEADER && (m[2] & 0x02) != 0;
    }

    /** The first question's name, lowercase, without the trailing dot ("" for the root). */
    static String questionName(byte[] m, int len) {
        need(len >= HEADER && u16(m, 4) >= 1, "no question");
        StringBuilder name = new StringBuilder();
        readName(m, len, HEADER, name);
        return name.toString().toLowerCase(java.util.Locale.ROOT);
    }

    /** Answer addresses of a response, with the smallest TTL among them. */
    record Answers(List<Inet4Address> addresses, int minTtl) { }

    static Answers answers(byte[] m, int len) {
        need(len >= HEADER, "short message");
        int qd = u16(m, 4);
        int an = u16(m, 6);
        int pos = HEADER;
        for (int i = 0; i < qd; i++) pos = readName(m, len, pos, null) + 4;
        List<Inet4Address> out = new ArrayList<>();
        int minTtl = Integer.MAX_VALUE;
        for (int i = 0; i < an; i++) {
            pos = readName(m, len, pos, null);
            need(pos + 10 <= len, "truncated answer");
            int type = u16(m, pos);
            int cls = u16(m, pos + 2);
            long ttl = ((long) u16(m, pos + 4) << 16) | u16(m, pos + 6);
            int rdlen = u16(m, pos + 8);
            pos += 10;
            need(pos + rdlen <= len, "truncated rdata");
            if (type == 1 && cls == 1 && rdlen == 4) {
                out.add(address(m, pos));
                minTtl = (int) Math.min(minTtl, Math.min(ttl, Integer.MAX_VALUE));
            }
            pos += rdlen;
        }
        return new Answers(out, out.isEmpty() ? 0 : minTtl);
    }

    /**
     * {@code m} without the A records whose address {@code blocked} says (in any section), or {@code m} itself when
     * it has none. The message is written anew: names uncompressed from the original and compressed again
     * (every name, also those inside CNAME, NS, PTR, MX and SOA data, which RFC 1035 lets a server compress),
     * so no pointer can point at a removed record; other records' data is copied as it is.
     */
    static byte[] withoutAddresses(byte[] m, int len, Predicate<Inet4Address> blocked) {
        need(len >= HEADER, "short message");
        int qd = u16(m, 4);
        int pos = HEADER;
        for (int i = 0; i < qd; i++) pos = readName(m, len, pos, null) + 4;
        need(pos <= len, "truncated question");
        int questionEnd = pos;
        record Rr(int section, List<byte[]> name, int fixed, int rdata, int rdlen, boolean drop) { }
        List<Rr> records = new ArrayList<>();
        boolean any = false;
        for (int section = 0; section < 3; section++) {
            int count = u16(m, 6 + 2 * section);
            for (int i = 0; i < count; i++) {
                List<byte[]> name = new ArrayList<>();
                pos = readLabels(m, len, pos, name);
                need(pos + 10 <= len, "truncated record");
                int type = u16(m, pos);
                int rdlen = u16(m, pos + 8);
                need(pos + 10 + rdlen <= len, "truncated rdata");
                boolean drop = type == 1 && u16(m, pos + 2) == 1 && rdlen == 4 && blocked.test(address(m, pos + 10));
                any |= drop;
                records.add(new Rr(section, name, pos, pos + 10, rdlen, drop));
                pos += 10 + rdlen;
            }
        }
        if (!any) return m;
        NameWriter out = new NameWriter();
        out.write(m, 0, questionEnd);
        // names of the question stay where they are, so later names may point at them
        for (int i = 0, q = HEADER; i < qd; i++) q = out.remember(m, len, q) + 4;
        int[] kept = new int[3];
        for (Rr r : records) {
            if (r.drop()) continue;
            kept[r.section()]++;
            out.name(r.name());
            out.write(m, r.fixed(), 8); // type, class, ttl
            int lengthAt = out.size();
            out.write(new byte[2], 0, 2);
            int type = u16(m, r.fixed());
            int end = r.rdata() + r.rdlen();
            switch (type) {
                case 2, 5, 12 -> out.name(rdataName(m, r.rdata(), end, r.rdata(), end));
                case 15 -> {
                    need(r.rdlen() >= 3, "short MX");
                    out.write(m, r.rdata(), 2);
                    out.name(rdataName(m, r.rdata(), end, r.rdata() + 2, end));
                }
                case 6 -> {
                    List<byte[]> mname = new ArrayList<>();
                    int p = readLabels(m, end, r.rdata(), mname);
                    List<byte[]> rname = new ArrayList<>();
                    p = readLabels(m, end, p, rname);
                    need(end - p == 20, "bad SOA");
                    out.name(mname);
                    out.name(rname);
                    out.write(m, p, 20);
                }
                default -> out.write(m, r.rdata(), r.rdlen());
            }
            out.patchLength(lengthAt);
        }
        byte[] result = out.toByteArray();
        for (int section = 0; section < 3; section++) {
            result[6 + 2 * section] = (byte) (kept[section] >>> 8);
            result[7 + 2 * section] = (byte) kept[section];
        }
        return result;
    }

    /** The one name that makes up the rdata between {@code from} and {@code end}. */
    private static List<byte[]> rdataName(byte[] m, int rdata, int end, int from, int limit) {
        List<byte[]> name = new ArrayList<>();
        need(readLabels(m, limit, from, name) == end, "bad name in rdata at " + rdata);
        return name;
    }

    private static Inet4Address address(byte[] m, int pos) {
        try {
            return (Inet4Address) InetAddress.getByAddress(Arrays.copyOfRange(m, pos, pos + 4));
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** A message being written, with RFC 1035 4.1.4 compression: a name ends in a pointer to a suffix already written. */
    private static final class NameWriter extends java.io.ByteArrayOutputStream {
        private final Map<String, Integer> suffixes = new HashMap<>();

        void name(List<byte[]> labels) {
            for (int i = 0; i < labels.size(); i++) {
                String key = key(labels, i);
                Integer at = suffixes.get(key);
                if (at != null) {
                    write(0xc0 | (at >>> 8));
                    write(at & 0xff);
                    return;
                }
                if (size() < 0x4000) suffixes.put(key, size());
                write(labels.get(i).length);
                write(labels.get(i), 0, labels.get(i).length);
            }
            write(0);
        }

        /** Records the suffixes of the name at {@code pos} of {@code m}, already copied to the same place here. */
        int remember(byte[] m, int len, int pos) {
            int p = pos;
            while (p < len && (m[p] & 0xc0) == 0 && m[p] != 0) {
                List<byte[]> labels = new ArrayList<>();
                readLabels(m, len, p, labels);
                if (p < 0x4000) suffixes.putIfAbsent(key(labels, 0), p);
                p += 1 + (m[p] & 0xff);
            }
            return readName(m, len, pos, null);
        }

        void patchLength(int at) {
            int length = size() - at - 2;
            buf[at] = (byte) (length >>> 8);
            buf[at + 1] = (byte) length;
        }

        /** The wire form of the labels from {@code from} on (case kept: compression must not change a name). */
        private static String key(List<byte[]> labels, int from) {
            StringBuilder k = new StringBuilder();
            for (int i = from; i < labels.size(); i++) {
                k.append((char) labels.get(i).length).append(new String(labels.get(i), StandardCharsets.ISO_8859_1));
            }
            return k.toString();
        }
    }

    /** A response to {@code query} that carries only its question and {@code rcode}. */
    static byte[] refusal(byte[] query, int len, int rcode) {
        int end = HEADER;
        if (u16(query, 4) >= 1) end = readName(query, len, HEADER, null) + 4;
        need(end <= len, "truncated question");
        byte[] r = Arrays.copyOf(query, end);
        // QR=1, keep opcode and RD; RA=1; rcode
        r[2] = (byte) ((query[2] & 0x79) | 0x80);
        r[3] = (byte) (0x80 | (rcode & 0x0f));
        r[4] = 0;
        r[5] = (byte) (u16(query, 4) >= 1 ? 1 : 0);
        for (int i = 6; i < 12; i++) r[i] = 0;
        return r;
    }

    /** Reads a possibly compressed name at {@code pos} into its labels; returns the position after it. */
    private static int readLabels(byte[] m, int len, int pos, List<byte[]> labels) {
        StringBuilder ignored = new StringBuilder();
        return readName(m, len, pos, ignored, labels);
    }

    /** Reads a possibly compressed name at {@code pos}; returns the position after it in the message. */
    private static int readName(byte[] m, int len, int pos, StringBuilder out) {
        return readName(m, len, pos, out, null);
    }

    private static int readName(byte[] m, int len, int pos, StringBuilder out, List<byte[]> labels) {
        int end = -1;
        int jumps = 0;
        while (true) {
            need(pos < len, "truncated name");
            int l = m[pos] & 0xff;
            if (l == 0) {
                return end >= 0 ? end : pos + 1;
            }
            if ((l & 0xc0) == 0xc0) {
                need(pos + 1 < len, "truncated pointer");
                need(++jumps < 64, "pointer loop");
                if (end < 0) end = pos + 2;
                pos = ((l & 0x3f) << 8) | (m[pos + 1] & 0xff);
                continue;
            }
            need((l & 0xc0) == 0 && pos + 1 + l <= len, "bad label");
            if (labels != null) labels.add(Arrays.copyOfRange(m, pos + 1, pos + 1 + l));
            if (out != null) {
                if (!out.isEmpty()) out.append('.');
                for (int i = 0; i < l; i++) out.append((char) (m[pos + 1 + i] & 0xff));
                need(out.length() <= 255, "name too long");
            }
            pos += 1 + l;
        }
    }

    private static int u16(byte[] m, int pos) {
        return ((m[pos] & 0xff) << 8) | (m[pos + 1] & 0xff);
    }

    private static void need(boolean ok, String what) {
        if (!ok) throw new IllegalArgumentException("malformed DNS message: " + what);
    }
}
