package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class DebootstrapProgressTest {
    record Event(String phase, double fraction) { }

    @Test
    void logLinesBecomeMonotonicPhases() {
        List<Event> events = new ArrayList<>();
        var parser = new BuiltinImages.DebootstrapProgress((phase, fraction) -> events.add(new Event(phase, fraction)));
        List<String> packages = List.of("adduser", "apt", "base-files", "bash", "libc6");
        parser.accept("I: Target architecture can be executed");
        parser.accept("I: Retrieving InRelease ");
        parser.accept("I: Checking Release signature");
        parser.accept("I: Retrieving Packages ");
        parser.accept("I: Validating Packages ");
        for (String p : packages) {
            parser.accept("I: Retrieving " + p + " 1.0-1");
            parser.accept("I: Validating " + p + " 1.0-1");
        }
        parser.accept("I: Chosen extractor for .deb packages: dpkg-deb");
        packages.forEach(p -> parser.accept("I: Extracting " + p + "..."));
        parser.accept("I: Unpacking required packages...");
        packages.forEach(p -> parser.accept("I: Unpacking " + p + "..."));
        parser.accept("I: Configuring required packages...");
        packages.forEach(p -> parser.accept("I: Configuring " + p + "..."));
        parser.accept("I: Base system installed successfully.");

        assertThat(events.stream().map(Event::phase).distinct().toList())
                .containsExactly("resolving", "downloading", "extracting", "unpacking", "configuring");
        for (int i = 1; i < events.size(); i++) {
            assertThat(events.get(i).fraction()).isGreaterThanOrEqualTo(events.get(i - 1).fraction());
        }
        assertThat(events.getLast().fraction()).isBetween(0.95, 1.0);
        // once the real package count is known, a phase ends at its upper bound
        assertThat(events.stream().filter(e -> e.phase().equals("unpacking")).mapToDouble(Event::fraction).max())
                .hasValue(0.75);
    }

    @Test
    void unrelatedOutputIsIgnored() {
        List<Event> events = new ArrayList<>();
        var parser = new BuiltinImages.DebootstrapProgress((phase, fraction) -> events.add(new Event(phase, fraction)));
        parser.accept("W: Cannot check Release signature; keyring file not available");
        parser.accept("dpkg: warning: something");
        assertThat(events).isEmpty();
    }
}
