package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import dev.burrow.core.error.BurrowException;

class ImageRefTest {
    private static final String DIGEST = "sha256:" + "ab".repeat(32);

    @ParameterizedTest
    @CsvSource({
            "debian:12, docker://docker.io/library/debian:12",
            "debian, docker://docker.io/library/debian:latest",
            "docker://debian:12, docker://docker.io/library/debian:12",
            "docker.io/library/debian:12, docker://docker.io/library/debian:12",
            "index.docker.io/library/debian:12, docker://docker.io/library/debian:12",
            "someone/tool:1.2, docker://docker.io/someone/tool:1.2",
            "ghcr.io/owner/img:v1, docker://ghcr.io/owner/img:v1",
            "127.0.0.1:5000/burrow/busybox:1, docker://127.0.0.1:5000/burrow/busybox:1",
            "localhost/repo, docker://localhost/repo:latest",
            "[::1]:5000/repo:x, docker://[::1]:5000/repo:x",
            "docker://Registry.Example.com:443/a/b_c/d-e:T.1, docker://registry.example.com:443/a/b_c/d-e:T.1",
    })
    void registryReferencesNormalizeToOneSpelling(String ref, String canonical) {
        assertThat(ImageRef.parse(ref)).isInstanceOf(ImageRef.Registry.class);
        assertThat(ImageRef.parse(ref).canonical()).isEqualTo(canonical);
    }

    @Test
    void aDigestPinsTheReferenceAndDropsTheTag() {
        var r = (ImageRef.Registry) ImageRef.parse("localhost:5000/a/b:tag@" + DIGEST);
        assertThat(r.digest()).isEqualTo(DIGEST);
        assertThat(r.tag()).isNull();
        assertThat(r.canonical()).isEqualTo("docker://localhost:5000/a/b@" + DIGEST);
        assertThat(r.loopback()).isTrue();
    }

    @Test
    void onlyLoopbackHostsCountAsLoopback() {
        assertThat(((ImageRef.Registry) ImageRef.parse("127.0.0.1:5000/r")).loopback()).isTrue();
        assertThat(((ImageRef.Registry) ImageRef.parse("[::1]:5000/r")).loopback()).isTrue();
        assertThat(((ImageRef.Registry) ImageRef.parse("localhost/r")).loopback()).isTrue();
        assertThat(((ImageRef.Registry) ImageRef.parse("127.0.0.1.example.com/r")).loopback()).isFalse();
        assertThat(((ImageRef.Registry) ImageRef.parse("registry.local:5000/r")).hostName()).isEqualTo("registry.local");
    }

    @Test
    void ociLayoutsTakeAnOptionalTag() {
        assertThat(ImageRef.parse("oci:/srv/images/base:v2"))
                .isEqualTo(new ImageRef.OciLayout(Path.of("/srv/images/base"), "v2"));
        assertThat(ImageRef.parse("oci:/srv/images/base"))
                .isEqualTo(new ImageRef.OciLayout(Path.of("/srv/images/base"), "latest"));
        // a colon inside a directory name is not a tag separator
        assertThat(ImageRef.parse("oci:/srv/a:b/base"))
                .isEqualTo(new ImageRef.OciLayout(Path.of("/srv/a:b/base"), "latest"));
        assertThat(ImageRef.parse("oci:/srv/x/../base:1"))
                .isEqualTo(new ImageRef.OciLayout(Path.of("/srv/base"), "1"));
    }

    @Test
    void builtins() {
        assertThat(ImageRef.parse("builtin:busybox")).isEqualTo(new ImageRef.Builtin("busybox"));
        assertThat(ImageRef.parse("builtin:debian").canonical()).isEqualTo("builtin:debian");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "builtin:alpine", "builtin:", "oci:relative/path", "oci:/", "oci:/x:bad tag",
            "Upper/Case:1", "debian:", "docker://", "foo bar", "debian:12 ", "repo@sha256:abc", "repo@md5:" + "a",
            "oci-archive:/tmp/x.tar", "dir:/tmp/x", "http://registry/x", "docker-daemon:debian:12", "a//b",
            "-leading/dash", "host:99999999/x", "debian:-bad"})
    void malformedReferencesAreBadRequests(String ref) {
        assertThatThrownBy(() -> ImageRef.parse(ref))
                .isInstanceOfSatisfying(BurrowException.class, e -> {
                    assertThat(e.kind()).isEqualTo(BurrowException.Kind.BAD_REQUEST);
                    assertThat(e.code()).isEqualTo("INVALID_IMAGE");
                });
    }
}
