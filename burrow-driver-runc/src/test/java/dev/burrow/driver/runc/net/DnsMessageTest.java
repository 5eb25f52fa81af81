package dev.burrow.driver.runc.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;

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
