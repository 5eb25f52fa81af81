package dev.burrow.driver.runc.internal;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A user of the sandbox as its own {@code /etc/passwd} and {@code /etc/group} define it. runc's exec takes only
 * numeric ids, so names are resolved here, from files read with the sandbox's root confinement.
 */
public record PasswdEntry(String name, int uid, int gid, String home, String shell, List<Integer> groups) {
    private static final Pattern NUMERIC = Pattern.compile("(\\d{1,9})(?::(\\d{1,9}))?");
    public static final PasswdEntry ROOT = new PasswdEntry("root", 0, 0, "/root", "/bin/sh", List.of());

    /** {@code user} is a name or {@code uid[:gid]}; empty if the name is not in the sandbox's passwd. */
    public static Optional<PasswdEntry> resolve(String user, byte[] passwd, byte[] group) {
        var m = NUMERIC.matcher(user);
        List<String[]> users = lines(passwd, 7);
        if (m.matches()) {
            int uid = Integer.parseInt(m.group(1));
            for (String[] u : users) {
                if (u[2].equals(m.group(1))) {
                    int gid = m.group(2) != null ? Integer.parseInt(m.group(2)) : parse(u[3], uid);
                    return Optional.of(new PasswdEntry(u[0], uid, gid, u[5], u[6], groupsOf(u[0], gid, group)));
                }
            }
            int gid = m.group(2) != null ? Integer.parseInt(m.group(2)) : uid;
            return Optional.of(new PasswdEntry(user, uid, gid, "/", "/bin/sh", List.of()));
        }
        for (String[] u : users) {
            if (u[0].equals(user)) {
                int uid = parse(u[2], -1);
                int gid = parse(u[3], -1);
                if (uid < 0 || gid < 0) return Optional.empty();
                return Optional.of(new PasswdEntry(u[0], uid, gid, u[5].isEmpty() ? "/" : u[5],
                        u[6].isEmpty() ? "/bin/sh" : u[6], groupsOf(u[0], gid, group)));
            }
        }
        return Optional.empty();
    }

    private static List<Integer> groupsOf(String name, int primary, byte[] group) {
        List<Integer> gids = new ArrayList<>();
        for (String[] g : lines(group, 4)) {
            int gid = parse(g[2], -1);
            if (gid < 0 || gid == primary) continue;
            for (String member : g[3].split(",")) {
                if (member.strip().equals(name)) gids.add(gid);
            }
        }
        return List.copyOf(gids);
    }

    private static List<String[]> lines(byte[] file, int fields) {
        List<String[]> out = new ArrayList<>();
        if (file == null) return out;
        for (String line : new String(file, StandardCharsets.UTF_8).split("\n")) {
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] f = line.split(":", -1);
            if (f.length >= fields) out.add(f);
        }
        return out;
    }

    private static int parse(String s, int dflt) {
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
