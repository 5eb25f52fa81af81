package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.error.BurrowException;

/** securejoin semantics of {@link ConfinedPath}, on a plain directory standing in for a VM root. */
class ConfinedPathTest {
    @TempDir
    Path tmp;
    private Path root;
    private Path outside;

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectories(tmp.toRealPath().resolve("root"));
        outside = Files.createDirectories(tmp.toRealPath().resolve("outside"));
        Files.writeString(outside.resolve("secret"), "host");
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/secret"), "vm");
    }

    @Test
    void absoluteLinkTargetsStartAtTheVmRoot() throws IOException {
        Files.createSymbolicLink(root.resolve("abs"), outside.resolve("secret"));
        Files.createSymbolicLink(root.resolve("etclink"), Path.of("/etc"));
        Files.createSymbolicLink(root.resolve("absfile"), Path.of("/etc/secret"));
        // The host path exists, the same path inside the root does not.
        assertThatThrownBy(() -> resolve("/abs")).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("FILE_NOT_FOUND"));
        Path mirrored = Files.createDirectories(root.resolve(outside.toString().substring(1)));
        assertThat(resolve("/abs")).isEqualTo(mirrored.resolve("secret"));
        assertThat(resolve("/etclink/secret")).isEqualTo(root.resolve("etc/secret"));
        assertThat(resolve("/absfile")).isEqualTo(root.resolve("etc/secret"));
    }

    @Test
    void dotDotInLinkTargetsStopsAtTheVmRoot() throws IOException {
        Files.createDirectories(root.resolve("a/b"));
        Files.createSymbolicLink(root.resolve("a/b/up"), Path.of("../../../../../../../../etc/secret"));
        Files.createSymbolicLink(root.resolve("a/b/sibling"), Path.of("../x"));
        Files.createSymbolicLink(root.resolve("a/b/dotty"), Path.of("./.././/b/../../etc/./secret"));
        assertThat(resolve("/a/b/up")).isEqualTo(root.resolve("etc/secret"));
        assertThat(resolve("a/b/sibling")).isEqualTo(root.resolve("a/x"));
        assertThat(resolve("/a/b/dotty")).isEqualTo(root.resolve("etc/secret"));
    }

    @Test
    void requestPathsAreValidatedBeforeAnyLookup() {
        for (String bad : List.of("", "..", "/..", "/a/../b", "a/..", "x\0y", "/" + "n".repeat(256),
                "/" + "d/".repeat(2100))) {
            assertThatThrownBy(() -> ConfinedPath.components(bad))
                    .isInstanceOfSatisfying(BurrowException.class, e -> {
                        assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_REQUEST);
                        assertThat(e.code()).isEqualTo("FILES_BAD_REQUEST");
                    });
        }
        assertThat(ConfinedPath.components("a//b/./c/")).containsExactly("a", "b", "c");
        assertThat(ConfinedPath.components("/")).isEmpty();
        assertThat(ConfinedPath.components("/...")).containsExactly("...");
    }

    @Test
    void loopsAndLongChainsFailWithBadRequest() throws IOException {
        Files.createSymbolicLink(root.resolve("l1"), Path.of("l2"));
        Files.createSymbolicLink(root.resolve("l2"), Path.of("/l1"));
        assertThatThrownBy(() -> resolve("/l1/x")).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("FILES_BAD_REQUEST"));
        assertThatThrownBy(() -> ConfinedPath.resolve(root, "/l2", ConfinedPath.Mode.CREATE_PARENTS))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("FILES_BAD_REQUEST"));
    }

    @Test
    void lookupOfAMissingOrNonDirectoryParentIsNotFound() {
        assertThatThrownBy(() -> resolve("/nope/file")).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("FILE_NOT_FOUND"));
        assertThatThrownBy(() -> resolve("/etc/secret/below")).isInstanceOfSatisfying(BurrowException.class,
                e -> assertThat(e.code()).isEqualTo("FILE_NOT_FOUND"));
        assertThat(resolve("/etc/missing")).isEqualTo(root.resolve("etc/missing"));
        assertThat(Files.exists(root.resolve("nope"))).isFalse();
    }

    @Test
    void createParentsMakesDirectoriesInsideTheRootEvenThroughLinks() throws IOException {
        Files.createSymbolicLink(root.resolve("dangling"), outside.resolve("newdir/file"));
        Path p = ConfinedPath.resolve(root, "/dangling", ConfinedPath.Mode.CREATE_PARENTS);
        Path inside = root.resolve(outside.toString().substring(1));
        assertThat(p).isEqualTo(inside.resolve("newdir/file"));
        assertThat(inside.resolve("newdir")).isDirectory();
        assertThat(outside.resolve("newdir")).doesNotExist();
        assertThat(ConfinedPath.resolve(root, "/x/y/z", ConfinedPath.Mode.CREATE_PARENTS)).isEqualTo(root.resolve("x/y/z"));
        assertThat(root.resolve("x/y")).isDirectory();
        assertThat(Files.getPosixFilePermissions(root.resolve("x/y"))).hasSize(7);
    }

    /**
     * Random trees of hostile links: whatever the path and links, the result is inside the root, and so is
     * what the host kernel finds there if it exists.
     */
    @Test
    void randomHostileLinksNeverResolveOutsideTheRoot() throws IOException {
        Random random = new Random(7);
        List<String> targets = List.of("/", "..", "../..", "../../../../..", outside.toString(), outside + "/secret",
                "/etc", "a", "b/c", "../a/b", "/a/../../..", ".", "c/../../..", "../" + outside.getFileName());
        List<String> names = List.of("a", "b", "c", "d");
        for (int round = 0; round < 200; round++) {
            Path r = Files.createDirectories(tmp.resolve("r" + round)).toRealPath();
            for (int i = 0; i < 12; i++) {
                Path dir = r;
                int depth = random.nextInt(3);
                for (int d = 0; d < depth; d++) dir = dir.resolve(names.get(random.nextInt(names.size())));
                if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) continue;
                Path name = dir.resolve(names.get(random.nextInt(names.size())));
                if (Files.exists(name, LinkOption.NOFOLLOW_LINKS)) continue;
                if (random.nextBoolean()) Files.createDirectories(name);
                else Files.createSymbolicLink(name, Path.of(targets.get(random.nextInt(targets.size()))));
            }
            for (int i = 0; i < 20; i++) {
                StringBuilder path = new StringBuilder();
                for (int d = 0, n = 1 + random.nextInt(5); d < n; d++) {
                    path.append('/').append(random.nextBoolean() ? names.get(random.nextInt(names.size())) : "secret");
                }
                Path resolved;
                try {
                    resolved = ConfinedPath.resolve(r, path.toString(), ConfinedPath.Mode.LOOKUP);
                } catch (BurrowException e) {
                    assertThat(e.code()).isIn("FILE_NOT_FOUND", "FILES_BAD_REQUEST");
                    continue;
                }
                // startsWithRaw: a lexical comparison (AssertJ's startsWith would canonicalize first).
                assertThat(resolved.normalize()).startsWithRaw(r);
                if (Files.exists(resolved)) assertThat(resolved.toRealPath()).startsWithRaw(r);
            }
        }
    }

    private Path resolve(String path) {
        return ConfinedPath.resolve(root, path, ConfinedPath.Mode.LOOKUP);
    }
}
