package dev.burrow.core.driver;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Files of a sandbox, read and written from the host. {@code path} is absolute inside the sandbox; it can never
 * resolve outside the sandbox's root, whatever symlinks the sandbox made.
 */
public interface FileFacet {

    /**
     * Reads a regular file (or lists a directory). A missing path throws a NOT_FOUND {@code BurrowException} with code
     * FILE_NOT_FOUND; a file larger than {@code maxBytes} a TOO_LARGE one.
     */
    FileContent read(String vmId, String path, long maxBytes);

    /** Writes (creates or replaces) a regular file, creating missing parent directories. Same confinement. */
    void writeFile(String vmId, String path, byte[] content, boolean executable);

    /**
     * Copies a host directory tree (a git checkout) to {@code path} in the sandbox, which must be missing or an empty
     * directory. Same confinement as {@link #writeFile}; links in the source are copied as links, never followed.
     */
    void copyIn(String vmId, Path source, String path);

    /**
     * Opens what {@link #read} would read, for streaming: a regular file's content is read by the caller after this
     * returns, so the driver holds no VM-wide state (lock, freeze) while a slow client drains it. Same errors as
     * {@link #read}. This default reads the file whole; drivers override it to keep memory per transfer bounded.
     */
    default OpenFile openFile(String vmId, String path, long maxBytes) {
        return switch (read(vmId, path, maxBytes)) {
            case FileContent.RegularFile f -> new OpenFile.Bytes(f.bytes().length, new ByteArrayInputStream(f.bytes()));
            case FileContent.Directory d -> new OpenFile.Listing(d.entries());
        };
    }

    /**
     * Writes a regular file from a stream, as {@link #writeFile(String, String, byte[], boolean)} does: the file appears
     * whole or not at all. A failure of {@code content} (a client that went away, a body over its limit) leaves the
     * previous file as it was and is rethrown. This default buffers the stream; drivers override it to keep memory per
     * transfer bounded.
     */
    default void writeFile(String vmId, String path, InputStream content, boolean executable) {
        try {
            writeFile(vmId, path, content.readAllBytes(), executable);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
