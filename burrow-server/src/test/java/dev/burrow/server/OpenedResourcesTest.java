package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The server's one close stack: last opened first, a failing part does not keep the others open. */
class OpenedResourcesTest {

    @Test
    void closesInReverseOrderOnceEvenWhenAPartFails() {
        List<String> closed = new ArrayList<>();
        OpenedResources opened = new OpenedResources();
        opened.opened("database", () -> closed.add("database"));
        opened.opened("driver", () -> {
            closed.add("driver");
            throw new IllegalStateException("unmount failed");
        });
        opened.opened("http", () -> closed.add("http"));
        opened.close();
        opened.close();
        assertThat(closed).containsExactly("http", "driver", "database");
    }

    @Test
    void aFailedStartClosesWhatWasOpenedAndKeepsCloseFailuresWithTheCause() {
        List<String> closed = new ArrayList<>();
        OpenedResources opened = new OpenedResources();
        opened.opened("database", () -> closed.add("database"));
        opened.opened("driver", () -> {
            throw new IllegalStateException("unmount failed");
        });
        RuntimeException cause = new IllegalArgumentException("port in use");
        opened.closeAfter(cause);
        assertThat(closed).containsExactly("database");
        assertThat(cause.getSuppressed()).singleElement().satisfies(s -> assertThat(s).hasMessage("unmount failed"));
    }
}
