package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.testing.HostRequirements;

class ImageFilesTest {
    Path tmp;

    @BeforeEach
    void createTmp() throws IOException {
        tmp = Files.createTempDirectory("burrow-imagefiles-test-");
    }

    @AfterEach
    void deleteTmp() {
        ImageFiles.deleteTree(tmp);
    }

    /** What a debootstrap killed halfway leaves: a mount inside the tree. The delete must detach, not descend. */
    @Test
    void deletingATreeDetachesMountsInsideItFirst() throws IOException {
        HostRequirements.requireRoot();
        Path tree = tmp.resolve("rootfs");
        Path mountPoint = Files.createDirectories(tree.resolve("proc"));
        HostCommand.of("mount", "-t", "tmpfs", "-o", "size=1m", "burrow-test", mountPoint.toString()).check();
        try {
            Files.writeString(mountPoint.resolve("on-the-mount"), "x");
            assertThat(ImageFiles.mountPointsBelow(tree.toRealPath())).containsExactly(mountPoint.toRealPath());

            ImageFiles.deleteTree(tree);

            assertThat(tree).doesNotExist();
            assertThat(ImageFiles.mountPointsBelow(tmp.toRealPath())).isEmpty();
        } finally {
            if (!ImageFiles.mountPointsBelow(tmp.toRealPath()).isEmpty()) {
                HostCommand.of("umount", "-l", mountPoint.toString()).run();
            }
        }
    }

    @Test
    void deletingFollowsNoSymlinks() throws IOException {
        Path outside = Files.writeString(tmp.resolve("outside"), "keep me");
        Path tree = Files.createDirectories(tmp.resolve("tree/etc"));
        Files.createSymbolicLink(tree.resolve("link-to-file"), outside);
        Files.createSymbolicLink(tree.resolve("link-to-dir"), tmp);

        ImageFiles.deleteTree(tmp.resolve("tree"));

        assertThat(tmp.resolve("tree")).doesNotExist();
        assertThat(outside).hasContent("keep me");
    }
}
