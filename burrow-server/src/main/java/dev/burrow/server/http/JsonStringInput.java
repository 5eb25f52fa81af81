package dev.burrow.server.http;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * The bytes of one JSON string value read from UTF-8 JSON text, escapes decoded, as a stream: starts just after the
 * opening quote and ends at the closing one. A string value of any length passes through a fixed buffer (Jackson
 * would hold the whole text). An unpaired surrogate escape becomes {@code ?}, as {@code String.getBytes(UTF_8)} does.
 */
final class JsonStringInput extends InputStream {
    private final InputStream in;
    private final byte[] buf = new byte[16 * 1024];
    private int pos;
    private int len;
    private final byte[] pending = new byte[8];
    private int pendingPos;
    private int pendingLen;
    private boolean done;

    JsonStringInput(InputStream in) {
        this.in = in;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int n) throws IOException {
        if (n == 0) return 0;
        int count = 0;
        while (count < n) {
            if (pendingPos < pendingLen) {
                b[off + count++] = pending[pendingPos++];
                continue;
            }
            if (done) break;
            if (pos == len && !fill()) throw new EOFException("the JSON string ends before its closing quote");
            byte c = buf[pos];
            if (c != '"' && c != '\\') {
                // the plain run up to the next quote or backslash, copied at once
                int end = pos;
                int max = Math.min(len, pos + (n - count));
                while (end < max && buf[end] != '"' && buf[end] != '\\') end++;
                System.arraycopy(buf, pos, b, off + count, end - pos);
                count += end - pos;
                pos = end;
                continue;
            }
            pos++;
            if (c == '"') {
                done = true;
                break;
            }
            escape();
        }
        return count == 0 && done ? -1 : count;
    }

    private void escape() throws IOException {
        int e = next();
        int cp = switch (e) {
            case '"' -> '"';
            case '\\' -> '\\';
            case '/' -> '/';
            case 'b' -> '\b';
            case 'f' -> '\f';
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            case 'u' -> unicode();
            default -> throw new IOException("invalid escape in a JSON string");
        };
        encode(cp);
    }

    private int unicode() throws IOException {
        int c = hex4();
        if (Character.isLowSurrogate((char) c)) return '?';
        if (!Character.isHighSurrogate((char) c)) return c;
        // a pair is \\uD8xx\\uDCxx; anything else leaves the high half unpaired
        if (peek() != '\\') return '?';
        pos++;
        if (next() != 'u') throw new IOException("invalid escape in a JSON string");
        int low = hex4();
        if (!Character.isLowSurrogate((char) low)) {
            // both are lone: the second may itself start a pair, which JSON text never needs; keep it simple
            pendingLen = 0;
            pendingPos = 0;
            encodeInto('?');
            encodeInto(Character.isHighSurrogate((char) low) ? '?' : low);
            return -1;
        }
        return Character.toCodePoint((char) c, (char) low);
    }

    private int hex4() throws IOException {
        int v = 0;
        for (int i = 0; i < 4; i++) {
            int d = Character.digit(next(), 16);
            if (d < 0) throw new IOException("invalid \\u escape in a JSON string");
            v = v << 4 | d;
        }
        return v;
    }

    private void encode(int cp) {
        if (cp < 0) return; // already queued
        pendingLen = 0;
        pendingPos = 0;
        encodeInto(cp);
    }

    private void encodeInto(int cp) {
        if (cp < 0x80) {
            pending[pendingLen++] = (byte) cp;
        } else if (cp < 0x800) {
            pending[pendingLen++] = (byte) (0xC0 | cp >> 6);
            pending[pendingLen++] = (byte) (0x80 | cp & 0x3F);
        } else if (cp < 0x10000) {
            pending[pendingLen++] = (byte) (0xE0 | cp >> 12);
            pending[pendingLen++] = (byte) (0x80 | cp >> 6 & 0x3F);
            pending[pendingLen++] = (byte) (0x80 | cp & 0x3F);
        } else {
            pending[pendingLen++] = (byte) (0xF0 | cp >> 18);
            pending[pendingLen++] = (byte) (0x80 | cp >> 12 & 0x3F);
            pending[pendingLen++] = (byte) (0x80 | cp >> 6 & 0x3F);
            pending[pendingLen++] = (byte) (0x80 | cp & 0x3F);
        }
    }

    private int next() throws IOException {
        if (pos == len && !fill()) throw new EOFException("the JSON string ends inside an escape");
        return buf[pos++] & 0xff;
    }

    private int peek() throws IOException {
        if (pos == len && !fill()) throw new EOFException("the JSON string ends inside an escape");
        return buf[pos] & 0xff;
    }

    private boolean fill() throws IOException {
        int n = in.read(buf);
        if (n <= 0) return false;
        pos = 0;
        len = n;
        return true;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
