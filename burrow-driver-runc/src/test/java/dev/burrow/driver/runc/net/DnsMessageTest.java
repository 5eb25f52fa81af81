package dev.burrow.driver.runc.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class DnsMessageTest {

    /** A query for {@code name}, type A, id 0x1234, recursion desired. */
    static byte[] query(String name) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(new byte[] {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            b.write(label.length());
            b.writeBytes(label.getBytes());
        }
        b.writeBytes(new byte[] {0, 0, 1, 0, 1});
        return b.toByteArray();
    }

    @Test
    void readsTheQuestionName() {
        byte[] q = query("Web.Example.com");
        assertThat(DnsMessage.isQuery(q, q.length)).isTrue();
        assertThat(DnsMessage.id(q, q.length)).isEqualTo(0x1234);
        assertThat(DnsMessage.questionName(q, q.length)).isEqualTo("web.example.com");
    }

    @Test
    void truncationBitIsReadAndNeverCopiedIntoARefusal() {
        byte[] q = query("a.b");
        assertThat(DnsMessage.truncated(q, q.length)).isFalse();
        q[2] |= 0x02;
        assertThat(DnsMessage.truncated(q, q.length)).isTrue();
        byte[] r = DnsMessage.refusal(q, q.length, DnsMessage.RCODE_SERVFAIL);
        assertThat(DnsMessage.truncated(r, r.length)).isFalse();
        assertThat(r[3] & 0x0f).isEqualTo(2);
        assertThat(DnsMessage.truncated(new byte[] {0, 0, 2}, 3)).as("shorter than a header").isFalse();
    }

    @Test
    void refusalKeepsIdAndQuestion() {
        byte[] q = query("a.b");
        byte[] r = DnsMessage.refusal(q, q.length, DnsMessage.RCODE_NXDOMAIN);
        assertThat(DnsMessage.isQuery(r, r.length)).isFalse();
        assertThat(DnsMessage.id(r, r.length)).isEqualTo(0x1234);
        assertThat(r[3] & 0x0f).isEqualTo(3);
        assertThat(DnsMessage.questionName(r, r.length)).isEqualTo("a.b");
        assertThat(DnsMessage.answers(r, r.length).addresses()).isEmpty();
    }

    @Test
    void collectsAddressesFromCompressedAnswersWithTheSmallestTtl() {
        byte[] q = query("www.example.com");
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(q);
        byte[] r = b.toByteArray();
        r[2] = (byte) 0x81;
        r[3] = (byte) 0x80;
        r[7] = 3; // three answers: a CNAME then two A records
        b = new ByteArrayOutputStream();
        b.writeBytes(r);
        // CNAME www.example.com -> (pointer to example.com at offset 16)
        b.writeBytes(new byte[] {(byte) 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 100, 0, 2, (byte) 0xc0, 16});
        b.writeBytes(new byte[] {(byte) 0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, (byte) 192, 0, 2, 10});
        b.writeBytes(new byte[] {(byte) 0xc0, 16, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, (byte) 192, 0, 2, 11});
        byte[] m = b.toByteArray();
        DnsMessage.Answers a = DnsMessage.answers(m, m.length);
        assertThat(a.addresses()).extracting(x -> x.getHostAddress()).containsExactly("192.0.2.10", "192.0.2.11");
        assertThat(a.minTtl()).isEqualTo(30);
    }

    /**
     * A response for www.example.com: a CNAME to example.com, A records 10.1.2.3 (private), 203.0.113.7 and
     * 169.254.169.254, an SOA in the authority section whose names point back into the answers, and glue for
     * ns.example.com (127.0.0.1) in the additional section. Names compressed as servers do.
     */
    static byte[] mixedResponse() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] q = query("www.example.com");
        q[2] = (byte) 0x81;
        q[3] = (byte) 0x80;
        q[7] = 4; // answers
        q[9] = 1; // authority
        q[11] = 1; // additional
        b.writeBytes(q);
        // CNAME www.example.com (pointer 12) -> example.com (pointer 16)
        b.writeBytes(new byte[] {(byte) 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 100, 0, 2, (byte) 0xc0, 16});
        b.writeBytes(new byte[] {(byte) 0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 1, 2, 3});
        b.writeBytes(new byte[] {(byte) 0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, (byte) 203, 0, 113, 7});
        b.writeBytes(new byte[] {(byte) 0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, (byte) 169, (byte) 254, (byte) 169, (byte) 254});
        // SOA example.com: mname ns.example.com (label + pointer 16), rname (pointer 16), 20 bytes of numbers
        int soaAt = b.size();
        b.writeBytes(new byte[] {(byte) 0xc0, 16, 0, 6, 0, 1, 0, 0, 0, 60, 0, 27, 2, 'n', 's', (byte) 0xc0, 16, (byte) 0xc0, 16});
        b.writeBytes(new byte[] {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5});
        // glue: ns.example.com (pointer to the SOA's mname) A 127.0.0.1
        int mname = soaAt + 12;
        b.writeBytes(new byte[] {(byte) 0xc0, (byte) mname, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1});
        return b.toByteArray();
    }

    private static boolean privateForTheTest(Inet4Address a) {
        int first = a.getAddress()[0] & 0xff;
        return first == 10 || first == 127 || first == 169;
    }

    @Test
    void blockedAddressesAreTakenOutOfEverySectionAndTheRestStillParses() {
        byte[] m = mixedResponse();
        assertThat(DnsMessage.answers(m, m.length).addresses()).extracting(x -> x.getHostAddress())
                .containsExactly("10.1.2.3", "203.0.113.7", "169.254.169.254");
        byte[] s = DnsMessage.withoutAddresses(m, m.length, DnsMessageTest::privateForTheTest);
        assertThat(DnsMessage.id(s, s.length)).isEqualTo(0x1234);
        assertThat(DnsMessage.questionName(s, s.length)).isEqualTo("www.example.com");
        DnsMessage.Answers a = DnsMessage.answers(s, s.length);
        assertThat(a.addresses()).extracting(x -> x.getHostAddress()).containsExactly("203.0.113.7");
        assertThat(a.minTtl()).isEqualTo(60);
        assertThat(new int[] {s[7], s[9], s[11]}).as("answer, authority, additional counts").containsExactly(2, 1, 0);
        assertThat(s.length).isLessThan(m.length);
        assertThat(DnsMessage.withoutAddresses(s, s.length, DnsMessageTest::privateForTheTest)).as("nothing more to take out").isSameAs(s);
        // the CNAME and the SOA survive with their names intact, read through the new compression pointers
        assertThat(names(s)).containsExactly("www.example.com", "example.com", "example.com", "example.com",
                "ns.example.com", "example.com");
    }

    @Test
    void aResponseWithNothingBlockedIsPassedOnAsItIs() {
        byte[] m = mixedResponse();
        assertThat(DnsMessage.withoutAddresses(m, m.length, x -> false)).isSameAs(m);
    }

    @Test
    void aNameLeftWithoutAddressesAnswersWithNone() {
        byte[] m = mixedResponse();
        byte[] s = DnsMessage.withoutAddresses(m, m.length, x -> true);
        assertThat(DnsMessage.answers(s, s.length).addresses()).isEmpty();
        assertThat(s[3] & 0x0f).as("still NOERROR").isZero();
        assertThat(s[7]).as("the CNAME stays").isEqualTo((byte) 1);
    }

    /** Every record's owner name, each followed by the names in its data (CNAME target, SOA mname and rname). */
    private static List<String> names(byte[] m) {
        List<String> out = new ArrayList<>();
        int pos = skipName(m, 12) + 4;
        int records = (m[7] & 0xff) + (m[9] & 0xff) + (m[11] & 0xff);
        for (int i = 0; i < records; i++) {
            out.add(name(m, pos));
            pos = skipName(m, pos);
            int type = ((m[pos] & 0xff) << 8) | (m[pos + 1] & 0xff);
            int rdlen = ((m[pos + 8] & 0xff) << 8) | (m[pos + 9] & 0xff);
            int rdata = pos + 10;
            if (type == 5 || type == 6) out.add(name(m, rdata));
            if (type == 6) out.add(name(m, skipName(m, rdata)));
            pos = rdata + rdlen;
        }
        return out;
    }

    private static String name(byte[] m, int pos) {
        StringBuilder b = new StringBuilder();
        while (m[pos] != 0) {
            if ((m[pos] & 0xc0) == 0xc0) {
                pos = ((m[pos] & 0x3f) << 8) | (m[pos + 1] & 0xff);
                continue;
            }
            if (!b.isEmpty()) b.append('.');
            b.append(new String(m, pos + 1, m[pos], StandardCharsets.US_ASCII));
            pos += 1 + m[pos];
        }
        return b.toString();
    }

    private static int skipName(byte[] m, int pos) {
        while (m[pos] != 0) {
            if ((m[pos] & 0xc0) == 0xc0) return pos + 2;
            pos += 1 + m[pos];
        }
        return pos + 1;
    }

    @Test
    void malformedMessagesAreRejectedNotCrashed() {
        byte[] q = query("loop.example");
        byte[] loop = java.util.Arrays.copyOf(q, q.length);
        loop[12] = (byte) 0xc0;
        loop[13] = 12; // a pointer to itself
        assertThatThrownBy(() -> DnsMessage.questionName(loop, loop.length)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DnsMessage.questionName(q, 14)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DnsMessage.id(new byte[3], 3)).isInstanceOf(IllegalArgumentException.class);
    }
}
