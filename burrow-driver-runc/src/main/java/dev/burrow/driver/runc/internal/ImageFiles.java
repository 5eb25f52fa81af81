package dev.burrow.driver.runc.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;


/** File-tree chores of the image cache: hashing, atomic JSON writes, and deleting trees built as root. */
final class ImageFiles {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ImageFiles() { }

    static String sha256Hex(byte[]... parts) {
        MessageDigest md = sha256();
        for (byte[] part : parts) md.update(part);
        return HexFormat.of().formatHex(md.digest());
    }

    static String sha256Hex(Path file) {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot hash " + file, e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }

    /** Writes JSON to a sibling temp file and renames it over {@code target}, so readers never see half a file. */
    static void writeJsonAtomically(Path target, Object value) {
        Path tmp = target.resolveSibling("." + target.getFileName() + "." + ProcessHandle.current().pid()
                + "." + Thread.currentThread().threadId() + ".tmp");
        try {
            Files.write(tmp, JSON.writeValueAsBytes(value));
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the rename failure is what matters
            }
            throw new UncheckedIOException("cannot write " + target, e);
        }
    }

    static boolean runningAsRoot() {
        try {
            return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }

    /**
     * Deletes a tree that a root tool may have built. A failed debootstrap can leave /proc or /sys mounted
     * inside its target, and a recursive delete that walked into them would attack the host; so mounts
     * below {@code root} are detached first, and the walk never crosses onto another device anyway.
     */
    static void deleteTree(Path root) {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        unmountBelow(root);
        SafeDelete.deleteTree(root);
    }

    /** Lazily unmounts every mount point at or below {@code root}, deepest first. */
    static void unmountBelow(Path root) {
        Path real;
        try {
            real = root.toRealPath(); // mountinfo lists resolved paths
        } catch (IOException e) {
            real = root.toAbsolutePath().normalize();
        }
        List<Path> mounts = mountPointsBelow(real);
        mounts.sort(Comparator.comparingInt(Path::getNameCount).reversed());
        for (Path mp : mounts) {
            HostCommand.of("umount", "-l", mp.toString()).timeout(Duration.ofSeconds(30)).check();
        }
    }

    static List<Path> mountPointsBelow(Path root) {
        List<Path> result = new ArrayList<>();
        Path mountinfo = Path.of("/proc/self/mountinfo");
        if (!Files.isReadable(mountinfo)) return result;
        try {
            for (String line : Files.readAllLines(mountinfo, StandardCharsets.UTF_8)) {
                String[] f = line.split(" ");
                if (f.length < 5) continue;
                Path mp = Path.of(unescapeMountinfo(f[4]));
                if (mp.startsWith(root)) result.add(mp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + mountinfo, e);
        }
        return result;
    }

    /** mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 …). */
    private static String unescapeMountinfo(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
