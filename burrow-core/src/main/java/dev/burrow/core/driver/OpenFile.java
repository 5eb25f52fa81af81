package dev.burrow.core.driver;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * What {@link SandboxDriver#openFile} found at a path: a regular file open for reading, streamed by the caller (so a
 * transfer holds a buffer, never the whole file), or a directory's entries.
 */
public sealed interface OpenFile extends AutoCloseable {

    /**
     * An open regular file of {@code size} bytes (its size when opened; {@code content} ends there even if the file
     * grows). The caller must close it; the driver may close it earlier when the VM goes away.
     */
    record Bytes(long size, InputStream content) implements OpenFile {
        @Override
        public void close() {
            try {
                content.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    record Listing(List<FileContent.Entry> entries) implements OpenFile {
        public Listing {
            entries = List.copyOf(entries);
        }

        @Override
        public void close() { }
    }

    @Override
    void close();
}
