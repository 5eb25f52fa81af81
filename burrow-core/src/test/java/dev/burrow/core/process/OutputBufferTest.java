package dev.burrow.core.process;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;

import org.junit.jupiter.api.Test;

class OutputBufferTest {
    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String s(OutputBuffer.Chunk c) {
        return new String(c.data(), StandardCharsets.UTF_8);
    }

    @Test
    void keepsTheLastCapacityBytesAddressedByAbsoluteOffsets() {
        OutputBuffer buf = new OutputBuffer(8, new ChangeSignal());
        buf.append(b("abcdef"), 0, 6);
        assertThat(s(buf.read(0, 100))).isEqualTo("abcdef");
        assertThat(s(buf.read(2, 3))).isEqualTo("cde");
        buf.append(b("ghijk"), 0, 5); // wraps: 11 written, 8 kept
        assertThat(buf.start()).isEqualTo(3);
        assertThat(buf.end()).isEqualTo(11);
        OutputBuffer.Chunk c = buf.read(0, 100);
        assertThat(c.offset()).isEqualTo(3);
        assertThat(s(c)).isEqualTo("defghijk");
        assertThat(s(buf.read(9, 100))).isEqualTo("jk");
        assertThat(buf.read(50, 100).offset()).isEqualTo(11);
        assertThat(buf.read(50, 100).data()).isEmpty();
        buf.append(b("0123456789XYZ"), 0, 13); // more than the capacity at once
        assertThat(buf.end()).isEqualTo(24);
        assertThat(buf.read(-1, 100).offset()).isEqualTo(16);
        assertThat(s(buf.read(16, 100))).isEqualTo("56789XYZ");
    }

    @Test
    void announcesChangesAndIgnoresWritesAfterClose() throws Exception {
        ChangeSignal signal = new ChangeSignal();
        OutputBuffer buf = new OutputBuffer(4, signal);
        long v = signal.version();
        buf.append(b("x"), 0, 1);
        assertThat(signal.await(v, java.time.Duration.ofMillis(10))).isGreaterThan(v);
        buf.close();
        buf.append(b("y"), 0, 1);
        assertThat(buf.end()).isEqualTo(1);
        assertThat(buf.closed()).isTrue();
    }

    @Test
    void lineLogStripsEscapesAndKeepsThePartialLine() {
        LineLog log = new LineLog(2, 5, Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC));
        log.accept(b("\u001b[1;32mgreen\u001b[0m\r\n\u001b]0;title\u0007one\r\ntoolongline\r\npart"));
        assertThat(log.lines()).extracting(LineLog.Line::line).containsExactly("one", "toolo", "part");
        assertThat(log.lines().get(0).timestamp()).isEqualTo(Instant.parse("2026-01-01T00:00:00Z"));
    }
}
