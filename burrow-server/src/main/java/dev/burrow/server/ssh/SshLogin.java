package dev.burrow.server.ssh;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * What an SSH user name asks for: {@code vmId}, {@code vmId+user}, each optionally followed by
 * {@code :token} (the form the Freestyle CLI prints: {@code ssh {vmId}:{token}@host}). Without {@code +user},
 * {@code linuxUser} is null until {@link #withDefaultUser} fills in the VM's default (root, or its snapshot's USER).
 */
public record SshLogin(String vmId, String linuxUser, String token) {
    private static final Pattern FORM = Pattern.compile(
            "([a-z0-9]{1,63})(?:\\+([a-z_][a-z0-9_.-]{0,31}|\\d{1,9}))?(?::([A-Za-z0-9_-]{8,200}))?");

    public static Optional<SshLogin> parse(String userName) {
        if (userName == null) return Optional.empty();
        var m = FORM.matcher(userName);
        if (!m.matches()) return Optional.empty();
        return Optional.of(new SshLogin(m.group(1), m.group(2), m.group(3)));
    }

    public SshLogin withDefaultUser(String user) {
        return linuxUser != null ? this : new SshLogin(vmId, user, token);
    }
}
