package dev.burrow.server.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.core.type.TypeReference;

import dev.burrow.core.error.BurrowException;
import dev.burrow.server.http.Json;

/**
 * A Dockerfile as Burrow builds it into a snapshot ({@code template.baseImage.dockerfileContent}): one {@code FROM}
 * and the instructions after it, in order. There is no build context, so {@code COPY} and {@code ADD} are refused.
 * {@code RUN} in shell form ({@code RUN cmd}, line continuations and here-documents {@code RUN <<'EOF'} included, the
 * form the vendor SDK writes) or exec form ({@code RUN ["a","b"]}); {@code ENV}, {@code ARG}, {@code WORKDIR},
 * {@code USER} and {@code SHELL} change how later steps run and what the snapshot records; {@code LABEL},
 * {@code CMD}, {@code ENTRYPOINT}, {@code EXPOSE}, {@code VOLUME}, {@code STOPSIGNAL}, {@code HEALTHCHECK} and
 * {@code MAINTAINER} are accepted and ignored (a Burrow VM runs its own init, not the image's command).
 */
public record Dockerfile(String from, List<Step> steps) {
    /** Largest Dockerfile accepted. */
    public static final int MAX_BYTES = 256 * 1024;

    /** One instruction after FROM; {@code line} is its 1-based first line, {@code text} the instruction as written. */
    public record Step(String keyword, String args, List<String> heredocs, int line, String text) { }

    private static final List<String> IGNORED = List.of("LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "VOLUME", "STOPSIGNAL",
            "HEALTHCHECK", "MAINTAINER", "ONBUILD");
    private static final List<String> KNOWN = List.of("RUN", "ENV", "ARG", "WORKDIR", "USER", "SHELL");

    public static Dockerfile parse(String content) {
        if (content == null || content.isBlank()) throw bad("'baseImage.dockerfileContent' is empty");
        if (content.length() > MAX_BYTES) throw bad("the Dockerfile is larger than " + MAX_BYTES + " bytes");
        if (content.indexOf('\0') >= 0) throw bad("the Dockerfile contains a NUL byte");
        String[] lines = content.replace("\r\n", "\n").split("\n", -1);
        String from = null;
        List<Step> steps = new ArrayList<>();
        List<String> argsBeforeFrom = new ArrayList<>();
        int i = 0;
        while (i < lines.length) {
            String raw = lines[i];
            int first = i + 1;
            String trimmed = raw.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                i++;
                continue;
            }
            // join continuation lines (a trailing backslash); comment lines inside are dropped, as Docker does
            StringBuilder sb = new StringBuilder();
            String cur = raw;
            while (true) {
                String s = cur.stripTrailing();
                if (s.endsWith("\\")) {
                    sb.append(s, 0, s.length() - 1).append(' ');
                    i++;
                    while (i < lines.length && lines[i].strip().startsWith("#")) i++;
                    if (i >= lines.length) break;
                    cur = lines[i];
                } else {
                    sb.append(s);
                    i++;
                    break;
                }
            }
            String instr = sb.toString().strip();
            int sp = indexOfSpace(instr);
            String keyword = (sp < 0 ? instr : instr.substring(0, sp)).toUpperCase(Locale.ROOT);
            String args = sp < 0 ? "" : instr.substring(sp).strip();
            // here-documents: RUN <<EOF / <<'EOF' / <<-EOF, the body up to the delimiter line
            List<String> heredocs = new ArrayList<>();
            var m = java.util.regex.Pattern.compile("<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\\2").matcher(args);
            while (m.find()) {
                boolean stripTabs = !m.group(1).isEmpty();
                String delim = m.group(3);
                StringBuilder body = new StringBuilder();
                boolean closed = false;
                while (i < lines.length) {
                    String l = lines[i++];
                    String cmp = stripTabs ? l.replaceFirst("^\t+", "") : l;
                    if (cmp.equals(delim)) {
                        closed = true;
                        break;
                    }
                    body.append(cmp).append('\n');
                }
                if (!closed) throw bad("line " + first + ": here-document '" + delim + "' is not closed");
                heredocs.add(body.toString());
            }
            switch (keyword) {
                case "FROM" -> {
                    if (from != null) {
                        throw bad("line " + first + ": multi-stage builds (a second FROM) are not supported");
                    }
                    String[] parts = args.split("\\s+");
                    int k = 0;
                    while (k < parts.length && parts[k].startsWith("--")) k++;
                    if (k >= parts.length || parts[k].isEmpty()) throw bad("line " + first + ": FROM needs an image");
                    String image = parts[k];
                    if (parts.length > k + 1 && !(parts.length == k + 3 && parts[k + 1].equalsIgnoreCase("AS"))) {
                        throw bad("line " + first + ": FROM takes an image and an optional 'AS name'");
                    }
                    if (image.equalsIgnoreCase("scratch")) {
                        throw bad("line " + first + ": FROM scratch is not supported (a VM needs an image with /bin/sh)");
                    }
                    if (image.contains("$")) {
                        throw bad("line " + first + ": variables in FROM are not supported (there are no build arguments)");
                    }
                    from = image;
                }
                case "COPY", "ADD" -> throw bad("line " + first + ": " + keyword + " is not supported: a snapshot build has "
                        + "no build context; put files in 'template.additionalFiles' or fetch them in a RUN step");
                default -> {
                    if (from == null) {
                        if (keyword.equals("ARG")) {
                            argsBeforeFrom.add(args);
                            continue;
                        }
                        throw bad("line " + first + ": the Dockerfile must start with FROM (found " + keyword + ")");
                    }
                    if (!KNOWN.contains(keyword) && !IGNORED.contains(keyword)) {
                        throw bad("line " + first + ": unknown instruction '" + keyword + "'");
                    }
                    if (keyword.equals("RUN") && args.isEmpty() && heredocs.isEmpty()) {
                        throw bad("line " + first + ": RUN needs a command");
                    }
                    if (keyword.equals("RUN") && args.startsWith("--")) {
                        throw bad("line " + first + ": RUN options (" + args.split("\\s+")[0] + ") are not supported");
                    }
                    if (!IGNORED.contains(keyword)) steps.add(new Step(keyword, args, heredocs, first, instr));
                }
            }
        }
        if (from == null) throw bad("the Dockerfile has no FROM");
        return new Dockerfile(from, steps);
    }

    /** {@code ["a","b"]} (a JSON array of strings), or null when {@code args} is not in that form. */
    static List<String> execForm(String args) {
        String t = args.strip();
        if (!t.startsWith("[")) return null;
        try {
            List<String> list = Json.MAPPER.readValue(t, new TypeReference<List<String>>() { });
            if (list.isEmpty() || list.stream().anyMatch(s -> s == null)) return null;
            return list;
        } catch (java.io.IOException e) {
            return null;
        }
    }

    /**
     * {@code KEY=value KEY2="v 2"} or the legacy {@code KEY value} form of ENV and LABEL, with {@code $VAR} and
     * {@code ${VAR}} replaced from {@code vars}.
     */
    static List<Map.Entry<String, String>> keyValues(String args, Map<String, String> vars, int line) {
        List<Map.Entry<String, String>> out = new ArrayList<>();
        String t = args.strip();
        int sp = indexOfSpace(t);
        String firstWord = sp < 0 ? t : t.substring(0, sp);
        if (!firstWord.contains("=")) {
            if (sp < 0) throw bad("line " + line + ": ENV needs a value");
            out.add(Map.entry(firstWord, substitute(unquote(t.substring(sp).strip()), vars)));
            return out;
        }
        int i = 0;
        while (i < t.length()) {
            while (i < t.length() && Character.isWhitespace(t.charAt(i))) i++;
            if (i >= t.length()) break;
            int eq = t.indexOf('=', i);
            if (eq < 0) throw bad("line " + line + ": expected KEY=value, got '" + t.substring(i) + "'");
            String key = t.substring(i, eq);
            if (key.isEmpty() || key.chars().anyMatch(Character::isWhitespace)) {
                throw bad("line " + line + ": expected KEY=value, got '" + t.substring(i) + "'");
            }
            i = eq + 1;
            StringBuilder v = new StringBuilder();
            while (i < t.length() && !Character.isWhitespace(t.charAt(i))) {
                char c = t.charAt(i);
                if (c == '"' || c == '\'') {
                    int end = t.indexOf(c, i + 1);
                    if (end < 0) throw bad("line " + line + ": unterminated quote");
                    String q = t.substring(i + 1, end);
                    v.append(c == '"' ? substitute(q.replace("\\\"", "\""), vars) : q);
                    i = end + 1;
                } else if (c == '\\' && i + 1 < t.length()) {
                    v.append(t.charAt(i + 1));
                    i += 2;
                } else {
                    int j = i;
                    while (j < t.length() && !Character.isWhitespace(t.charAt(j)) && t.charAt(j) != '"' && t.charAt(j) != '\''
                            && t.charAt(j) != '\\') j++;
                    v.append(substitute(t.substring(i, j), vars));
                    i = j;
                }
            }
            out.add(Map.entry(key, v.toString()));
        }
        return out;
    }

    /** {@code $VAR} and {@code ${VAR}} (and {@code ${VAR:-default}}) from {@code vars}; unknown ones become empty. */
    static String substitute(String s, Map<String, String> vars) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length() && s.charAt(i + 1) == '$') {
                out.append('$');
                i += 2;
            } else if (c == '$' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
                int end = s.indexOf('}', i);
                if (end < 0) {
                    out.append(s.substring(i));
                    break;
                }
                String expr = s.substring(i + 2, end);
                int dflt = expr.indexOf(":-");
                String name = dflt < 0 ? expr : expr.substring(0, dflt);
                String val = vars.get(name);
                if ((val == null || val.isEmpty()) && dflt >= 0) val = expr.substring(dflt + 2);
                out.append(val == null ? "" : val);
                i = end + 1;
            } else if (c == '$' && i + 1 < s.length() && (Character.isLetter(s.charAt(i + 1)) || s.charAt(i + 1) == '_')) {
                int j = i + 1;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
                String val = vars.get(s.substring(i + 1, j));
                out.append(val == null ? "" : val);
                i = j;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    private static String unquote(String s) {
        if (s.length() >= 2 && (s.startsWith("\"") && s.endsWith("\"") || s.startsWith("'") && s.endsWith("'"))) {
            return s.substring(1, s.length() - 1);
        }
        return s;
    }

    private static int indexOfSpace(String s) {
        for (int i = 0; i < s.length(); i++) if (Character.isWhitespace(s.charAt(i))) return i;
        return -1;
    }

    static BurrowException bad(String message) {
        return BurrowException.badRequest("DOCKERFILE_BAD_REQUEST", "Dockerfile: " + message);
    }
}
