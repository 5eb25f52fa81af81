package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.testing.HostRequirements;

class SafeDeleteTest {
    @TempDir
    Path tmp;

    @Test
    void linksInsideAreRemovedNeverFollowed() throws IOException {
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Files.writeString(outside.resolve("keep"), "keep");
        Path tree = Files.createDirectories(tmp.resolve("tree/a/b"));
        Files.createSymbolicLink(tree.resolve("to-outside"), outside);
        Files.createSymbolicLink(tree.resolve("to-root"), Path.of("/"));
        Files.createSymbolicLink(tmp.resolve("link-to-tree"), tmp.resolve("tree"));

        SafeDelete.deleteTree(tmp.resolve("link-to-tree"));
        assertThat(tmp.resolve("link-to-tree")).doesNotExist();
        assertThat(tree).as("deleting a link deletes the link only").isDirectory();

        SafeDelete.deleteTree(tmp.resolve("tree"));
        assertThat(tmp.resolve("tree")).doesNotExist();
        assertThat(outside.resolve("keep")).hasContent("keep");
        SafeDelete.deleteTree(tmp.resolve("tree"));
    }

    @Test
    void refusesWhileSomethingIsMountedBelowEvenViaALinkedParent() throws IOException {
        HostRequirements.requireRoot();
        Path tree = tmp.resolve("tree");
        Files.createDirectories(tree.resolve("mnt"));
        Path alias = Files.createSymbolicLink(tmp.resolve("alias"), tmp.resolve("tree"));
        HostCommand.of("mount", "-t", "tmpfs", "tmpfs", tree.resolve("mnt").toString()).check();
        try {
            Files.writeString(tree.resolve("mnt/precious"), "x");
            assertThatThrownBy(() -> SafeDelete.deleteTree(tree)).isInstanceOf(DriverException.class)
                    .hasMessageContaining("still mounted");
            assertThatThrownBy(() -> SafeDelete.deleteTree(alias.resolve("mnt"))).isInstanceOf(DriverException.class)
                    .hasMessageContaining("still mounted");
            assertThat(tree.resolve("mnt/precious")).exists();
        } finally {
            HostCommand.of("umount", tree.resolve("mnt").toString()).check();
        }
        SafeDelete.deleteTree(tree);
        assertThat(Files.exists(tree, LinkOption.NOFOLLOW_LINKS)).isFalse();
    }
}
