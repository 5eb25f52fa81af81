package dev.burrow.core.vm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class GuestPathTest {

    @Test
    void pathsLinuxWouldRefuseHaveAProblem() {
        assertThat(GuestPath.problem("/srv/app")).isNull();
        assertThat(GuestPath.problem("/" + "a".repeat(255))).isNull();
        assertThat(GuestPath.problem("relative")).contains("absolute");
        assertThat(GuestPath.problem(null)).contains("absolute");
        assertThat(GuestPath.problem("/a\0b")).contains("NUL");
        assertThat(GuestPath.problem("/" + "a".repeat(256))).contains("255");
        // 128 two-byte characters are 256 bytes: the limit is in bytes, not characters
        assertThat(GuestPath.problem("/" + "é".repeat(128))).contains("255");
        assertThat(GuestPath.problem(("/" + "a".repeat(200)).repeat(21))).contains("4095");
    }

    @Test
    void normalizingDropsEmptyAndDotComponentsAndRefusesClimbing() {
        assertThat(GuestPath.normalized("//home/./a/")).isEqualTo("/home/a");
        assertThat(GuestPath.normalized("/")).isEqualTo("/");
        assertThat(GuestPath.normalized("/home/../etc")).isNull();
        assertThat(GuestPath.normalized("/home/a/..")).isNull();
        assertThat(GuestPath.normalized("home/a")).isNull();
    }
}
