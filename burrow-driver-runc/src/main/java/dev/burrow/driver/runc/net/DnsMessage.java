package dev.burrow.driver.runc.net;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * The little of RFC 1035 the forwarder needs: a query's first question name, the IPv4 addresses (and smallest TTL)
 * in a response's answer section, and a refusal made from a query. Anything malformed throws
 * {@link IllegalArgumentException}; the forwarder then drops the packet.
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
                try {
                    out.add((Inet4Address) InetAddress.getByAddress(java.util.Arrays.copyOfRange(m, pos, pos + 4)));
                } catch (UnknownHostException e) {
                    throw new IllegalArgumentException(e);
                }
                minTtl = (int) Math.min(minTtl, Math.min(ttl, Integer.MAX_VALUE));
            }
            pos += rdlen;
        }
        return new Answers(out, out.isEmpty() ? 0 : minTtl);
    }

    /** A response to {@code query} that carries only its question and {@code rcode}. */
    static byte[] refusal(byte[] query, int len, int rcode) {
        int end = HEADER;
        if (u16(query, 4) >= 1) end = readName(query, len, HEADER, null) + 4;
        need(end <= len, "truncated question");
        byte[] r = java.util.Arrays.copyOf(query, end);
        // QR=1, keep opcode and RD; RA=1; rcode
        r[2] = (byte) ((query[2] & 0x79) | 0x80);
        r[3] = (byte) (0x80 | (rcode & 0x0f));
        r[4] = 0;
        r[5] = (byte) (u16(query, 4) >= 1 ? 1 : 0);
        for (int i = 6; i < 12; i++) r[i] = 0;
        return r;
    }

    /** Reads a possibly compressed name at {@code pos}; returns the position after it in the message. */
    private static int readName(byte[] m, int len, int pos, StringBuilder out) {
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
