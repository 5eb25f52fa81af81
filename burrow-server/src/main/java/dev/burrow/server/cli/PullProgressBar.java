package dev.burrow.server.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Renders the progress of an image pull (a {@code pull} record of the API) on stderr: one line redrawn with
 * {@code \r} when stderr is a terminal, otherwise a plain line whenever the phase changes or every few seconds,
 * so logs of a CI job stay readable.
 */
final class PullProgressBar {
    private static final int WIDTH = 30;
    private static final long LINE_EVERY_MS = 2000;

    private final PrintStream out;
    private final boolean terminal;
    private String lastPhase;
    private long lastLineAt;
    private int lastLength;
    private boolean drawn;

    PullProgressBar(PrintStream out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    static PullProgressBar onStderr() {
        return new PullProgressBar(System.err, stderrIsTerminal());
    }

    /** Whether fd 2 is a terminal (Linux: it links to a tty or pts device). */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception e) {
            return false;
        }
    }

    void update(JsonNode pull) {
        String line = render(pull);
        String phase = pull.path("phase").asText("");
        long now = System.currentTimeMillis();
        if (terminal) {
            String padded = line + " ".repeat(Math.max(0, lastLength - line.length()));
            out.print("\r" + padded);
            out.flush();
            lastLength = line.length();
            drawn = true;
        } else if (!phase.equals(lastPhase) || now - lastLineAt >= LINE_EVERY_MS) {
            out.println(line);
            out.flush();
            lastLineAt = now;
        }
        lastPhase = phase;
    }

    /** Ends the bar's line (terminal mode), so what follows starts on a fresh one. */
    void finish() {
        if (terminal && drawn) {
            out.println();
            out.flush();
        }
        drawn = false;
    }

    static String render(JsonNode pull) {
        String image = pull.path("image").asText("?");
        String phase = pull.path("phase").asText("");
        long done = pull.path("bytesDone").asLong(-1);
        long total = pull.path("bytesTotal").asLong(-1);
        StringBuilder b = new StringBuilder().append(phase).append(' ').append(image);
        if (total > 0 && done >= 0) {
            int filled = (int) Math.min(WIDTH, WIDTH * done / total);
            b.append(" [").append("#".repeat(filled)).append(".".repeat(WIDTH - filled)).append("] ")
                    .append(String.format(Locale.ROOT, "%3d%% %s/%s", 100 * done / total, mb(done), mb(total)));
        } else if (done >= 0) {
            b.append(' ').append(mb(done));
        }
        if (pull.hasNonNull("layersTotal")) {
            b.append(" layers ").append(pull.path("layersDone").asInt(0)).append('/').append(pull.path("layersTotal").asInt());
        }
        return b.toString();
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1_000_000.0);
    }
}
