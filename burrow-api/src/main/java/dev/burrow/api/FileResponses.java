package dev.burrow.api;

import java.util.List;

/** Shapes of the files routes: a file's content, a directory's entries, and the write body. */
public final class FileResponses {
    private FileResponses() { }

    public record FileContent(String content, String encoding) { }

    public record DirectoryListing(List<Entry> files) { }

    public record Entry(String name, String kind) { }

    public record WriteFileRequest(String content, String encoding) { }
}
