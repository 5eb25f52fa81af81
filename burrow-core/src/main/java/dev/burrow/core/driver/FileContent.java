package dev.burrow.core.driver;

import java.util.List;

/** What a path inside a sandbox holds: a regular file's bytes or a directory's entries. */
public sealed interface FileContent {
    record RegularFile(byte[] bytes) implements FileContent { }

    record Directory(List<Entry> entries) implements FileContent {
        public Directory {
            entries = List.copyOf(entries);
        }
    }

    record Entry(String name, boolean directory) { }
}
