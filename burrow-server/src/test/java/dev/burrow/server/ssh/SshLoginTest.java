package dev.burrow.server.ssh;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SshLoginTest {
    @Test
    void aLoginWithoutUserTakesTheVmsDefaultAndAnExplicitUserWins() {
        SshLogin bare = SshLogin.parse("abc123:bt_secretsecret").orElseThrow();
        assertThat(bare.linuxUser()).isNull();
        assertThat(bare.withDefaultUser("app")).isEqualTo(new SshLogin("abc123", "app", "bt_secretsecret"));
        SshLogin explicit = SshLogin.parse("abc123+root").orElseThrow();
        assertThat(explicit.withDefaultUser("app").linuxUser()).isEqualTo("root");
        assertThat(SshLogin.parse("abc123+1000").orElseThrow().linuxUser()).isEqualTo("1000");
        assertThat(SshLogin.parse("Not/A+Valid:Name")).isEmpty();
    }
}
