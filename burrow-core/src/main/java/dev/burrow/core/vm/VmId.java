package dev.burrow.core.vm;

import java.security.SecureRandom;
import java.util.regex.Pattern;

/** VM ids: 20 lowercase alphanumerics, as the Freestyle API promises its clients. */
public final class VmId {
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
    private static final Pattern SHAPE = Pattern.compile("[a-z0-9]{20}");
    private static final SecureRandom RANDOM = new SecureRandom();

    private VmId() { }

    public static String generate() {
        char[] c = new char[20];
        for (int i = 0; i < c.length; i++) c[i] = ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length()));
        return new String(c);
    }

    public static boolean valid(String id) {
        return id != null && SHAPE.matcher(id).matches();
    }
}
