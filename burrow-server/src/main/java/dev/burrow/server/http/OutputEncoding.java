package dev.burrow.server.http;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Locale;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * How process output bytes travel in JSON: {@code utf8} (text; a multi-byte character is never split between two
 * chunks, invalid bytes become U+FFFD) or {@code base64} (exact bytes).
 */
enum OutputEncoding {
    UTF8, BASE64;

    static OutputEncoding of(String name) {
        if (name == null || name.equalsIgnoreCase("utf8") || name.equalsIgnoreCase("utf-8")) return UTF8;
        if (name.equalsIgnoreCase("base64")) return BASE64;
        throw BurrowException.of(ErrorCode.BAD_REQUEST, "unknown encoding '" + name + "' (use utf8 or base64)");
    }

    String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * How many of {@code data}'s bytes to send now: all of them, except with utf8 while more may follow, where an
     * incomplete character at the end waits for its remaining bytes.
     */
    int sendable(byte[] data, boolean more) {
        if (this != UTF8 || !more) return data.length;
        return data.length - incompleteTail(data);
    }

    String encode(byte[] data, int len) {
        byte[] b = len == data.length ? data : Arrays.copyOf(data, len);
        return this == BASE64 ? Base64.getEncoder().encodeToString(b) : new String(b, StandardCharsets.UTF_8);
    }

    /** Bytes at the end that start a UTF-8 sequence which is not complete yet (0-3). */
    static int incompleteTail(byte[] b) {
        int n = b.length;
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xff;
            if ((c & 0xc0) == 0x80) continue; // continuation byte: look further back
            int need = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
            return need > back ? back : 0;
        }
        return 0;
    }
}
