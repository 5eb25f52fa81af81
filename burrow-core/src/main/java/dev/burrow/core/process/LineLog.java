package dev.burrow.core.process;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A terminal's output as plain text lines with the time each line ended: escape sequences (colours, cursor moves,
 * window titles) and carriage returns are removed. Bounded: the oldest lines are dropped first and an overlong line
 * is cut. The line still being written is included (with the time of its last byte).
 */
public final class LineLog implements Consumer<byte[]> {
    public record Line(String line, Instant timestamp) { }

    private enum State { TEXT, ESC, CSI, OSC, OSC_ESC }

    private final int maxLines;
    private final int maxLineBytes;
    private final Clock clock;
    private final ArrayDeque<Line> lines = new ArrayDeque<>();
    private final ByteArrayOutputStream current = new ByteArrayOutputStream();
    private Instant currentAt;
    private State state = State.TEXT;

    public LineLog(int maxLines, int maxLineBytes, Clock clock) {
        this.maxLines = maxLines;
        this.maxLineBytes = maxLineBytes;
        this.clock = clock;
    }

    @Override
    public synchronized void accept(byte[] bytes) {
        Instant now = clock.instant();
        for (byte b : bytes) {
            int c = b & 0xff;
            switch (state) {
                case TEXT -> {
                    if (c == 0x1b) state = State.ESC;
                    else if (c == '\n') endLine(now);
                    else if (c == '\r' || c == 0x07 || c == 0x08 || c == 0x00) { /* not text */ }
                    else if (current.size() < maxLineBytes) {
                        current.write(c);
                        currentAt = now;
                    }
                }
                case ESC -> state = c == '[' ? State.CSI : c == ']' ? State.OSC : State.TEXT;
                case CSI -> { if (c >= 0x40 && c <= 0x7e) state = State.TEXT; }
                case OSC -> { if (c == 0x07) state = State.TEXT; else if (c == 0x1b) state = State.OSC_ESC; }
                case OSC_ESC -> state = c == '\\' ? State.TEXT : State.OSC;
            }
        }
    }

    private void endLine(Instant now) {
        lines.addLast(new Line(current.toString(StandardCharsets.UTF_8), now));
        current.reset();
        currentAt = null;
        while (lines.size() > maxLines) lines.removeFirst();
    }

    public synchronized List<Line> lines() {
        List<Line> out = new ArrayList<>(lines);
        if (current.size() > 0) out.add(new Line(current.toString(StandardCharsets.UTF_8), currentAt));
        return out;
    }
}
