package dev.burrow.server.http;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * The files API's bodies as streams, so a transfer holds fixed buffers whatever the file's size: the Freestyle
 * shape {@code {"content": base64, "encoding": "base64"}} encoded while the file is read, and decoded while it is
 * written. The SDK sends {@code content} before {@code encoding}, so an upload is first spooled to disk and scanned
 * for its encoding and where its content string starts, then that string is decoded from the spool.
 */
final class FileBodies {
    static final ErrorCode BAD = ErrorCode.FILES_BAD_REQUEST;
    private static final int BUFFER = 48 * 1024; // a multiple of 3: base64 lines up at every write

    private FileBodies() { }

    /** Writes {@code {"content": <base64 of content>, "encoding": "base64"}} to {@code out}, leaving it open. */
    static void writeJson(InputStream content, OutputStream out) throws IOException {
        out.write("{\"content\":\"".getBytes(StandardCharsets.US_ASCII));
        OutputStream b64 = Base64.getEncoder().wrap(new FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                // the padding is written by the encoder's close; the response stays open for the rest of the JSON
                flush();
            }
        });
        copy(content, b64);
        b64.close();
        out.write("\",\"encoding\":\"base64\"}".getBytes(StandardCharsets.US_ASCII));
    }

    static void copy(InputStream in, OutputStream out) throws IOException {
        byte[] buf = new byte[BUFFER];
        int n;
        while ((n = in.readNBytes(buf, 0, buf.length)) > 0) out.write(buf, 0, n);
    }

    /**
     * Copies a request body to {@code spool}, refusing (413) one over {@code maxBytes}; the client's bytes are then
     * on disk, not in the heap.
     */
    static void spool(InputStream body, Path spool, long maxBytes) throws IOException {
        try (InputStream in = limited(body, maxBytes, () -> tooLargeBody(maxBytes));
             OutputStream out = Files.newOutputStream(spool)) {
            copy(in, out);
        }
    }

    /** Where a spooled upload's content string starts (the byte after its opening quote) and its encoding. */
    record Upload(long contentStart, boolean base64) { }

    /**
     * Scans a spooled {@code {content, encoding}} body with a streaming parser that skips the content string without
     * keeping it; other fields are ignored, as the typed body was.
     */
    static Upload scan(Path spool) {
        try (JsonParser p = Json.MAPPER.getFactory().createParser(spool.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw BurrowException.of(ErrorCode.BAD_REQUEST, "a JSON object body is required");
            long content = -1;
            String encoding = null;
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                switch (name) {
                    case "content" -> {
                        if (v == JsonToken.VALUE_NULL) content = -1;
                        else if (v != JsonToken.VALUE_STRING) throw BurrowException.of(BAD, "'content' must be a string");
                        // the opening quote; the string itself is skipped by the next nextToken(), never buffered
                        else content = p.currentTokenLocation().getByteOffset() + 1;
                    }
                    case "encoding" -> {
                        if (v == JsonToken.VALUE_NULL) encoding = null;
                        else if (v != JsonToken.VALUE_STRING) throw BurrowException.of(BAD, "'encoding' must be a string");
                        else encoding = p.getText();
                    }
                    default -> p.skipChildren();
                }
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw BurrowException.of(ErrorCode.BAD_REQUEST, "malformed JSON: the body must be one object");
            }
            if (content < 0) throw BurrowException.of(BAD, "'content' is required");
            return new Upload(content, base64(encoding));
        } catch (JsonProcessingException e) {
            throw BurrowException.of(ErrorCode.BAD_REQUEST, "malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw BurrowException.of(ErrorCode.BAD_REQUEST, "unreadable request body");
        }
    }

    /** The decoded file content of a scanned upload, at most {@code maxBytes} (else 413 FILE_TOO_LARGE). */
    static InputStream content(Path spool, Upload upload, long maxBytes) throws IOException {
        InputStream raw = Files.newInputStream(spool);
        try {
            raw.skipNBytes(upload.contentStart());
        } catch (IOException e) {
            raw.close();
            throw e;
        }
        InputStream text = new JsonStringInput(raw);
        InputStream decoded = upload.base64()
                ? Base64.getDecoder().wrap(new LineBreaksDropped(text))
                : text;
        InputStream checked = new java.io.FilterInputStream(decoded) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                try {
                    return super.read(b, off, len);
                } catch (IOException e) {
                    throw BurrowException.of(BAD, "'content' is not valid " + (upload.base64() ? "base64" : "JSON string text")
                            + ": " + e.getMessage());
                }
            }
        };
        return limited(checked, maxBytes, () -> new BurrowException(ErrorCode.FILE_TOO_LARGE,
                "the file is larger than " + maxBytes + " bytes"));
    }

    private static boolean base64(String encoding) {
        if (encoding == null || encoding.equalsIgnoreCase("utf8") || encoding.equalsIgnoreCase("utf-8")) return false;
        if (encoding.equalsIgnoreCase("base64")) return true;
        throw BurrowException.of(BAD, "unknown encoding '" + encoding + "' (use base64 or utf8)");
    }

    static BurrowException tooLargeBody(long maxBytes) {
        return new BurrowException(ErrorCode.PAYLOAD_TOO_LARGE,
                "request body larger than " + maxBytes + " bytes");
    }

    /** A stream that fails with {@code over} once more than {@code max} bytes came through. */
    static InputStream limited(InputStream in, long max, java.util.function.Supplier<BurrowException> over) {
        return new java.io.FilterInputStream(in) {
            private long seen;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0 && (seen += n) > max) throw over.get();
                return n;
            }
        };
    }

    /** Base64 as line-broken text (MIME) arrives with CR/LF; the strict decoder gets it without them. */
    private static final class LineBreaksDropped extends java.io.FilterInputStream {
        LineBreaksDropped(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int c;
            do {
                c = super.read();
            } while (c == '\r' || c == '\n');
            return c;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            while (true) {
                int n = super.read(b, off, len);
                if (n <= 0) return n;
                int w = off;
                for (int i = off; i < off + n; i++) if (b[i] != '\r' && b[i] != '\n') b[w++] = b[i];
                if (w > off) return w - off;
            }
        }
    }
}
