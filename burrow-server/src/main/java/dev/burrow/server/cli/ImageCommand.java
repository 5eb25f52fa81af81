package dev.burrow.server.cli;

import com.fasterxml.jackson.databind.JsonNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code burrow image …}: the server's image cache. */
@Command(name = "image", description = "Manage the server's image cache.",
        subcommands = {ImageCommand.Pull.class, ImageCommand.Ls.class, ImageCommand.Rm.class})
public final class ImageCommand implements Runnable {
    @Override
    public void run() {
        picocli.CommandLine.usage(this, System.out);
    }

    @Command(name = "pull", description = "Pull an image into the server's cache (progress on stderr); prints its digest.")
    static final class Pull extends VmCommand.Base {
        @Parameters(index = "0", description = "Image reference") String image;

        @Override
        int run(ApiClient c) {
            JsonNode started = c.post("/v1/images", java.util.Map.of("image", image));
            String startedAt = started.path("startedAt").asText();
            PullProgressBar bar = PullProgressBar.onStderr();
            JsonNode last = started;
            while (true) {
                JsonNode mine = null;
                for (JsonNode p : c.get("/v1/images").path("pulls")) {
                    if (p.path("image").asText().equals(started.path("image").asText())
                            && p.path("startedAt").asText().equals(startedAt)) {
                        mine = p;
                    }
                }
                if (mine == null) mine = last;
                bar.update(mine);
                last = mine;
                String phase = mine.path("phase").asText();
                if (phase.equals("ready") && mine.hasNonNull("digest")) {
                    bar.finish();
                    System.out.println(mine.get("digest").asText());
                    return 0;
                }
                if (phase.equals("failed")) {
                    bar.finish();
                    System.err.println("error: " + mine.path("error").asText("pull failed"));
                    return 1;
                }
                VmCommand.sleep(200);
            }
        }
    }

    @Command(name = "ls", description = "List cached images.")
    static final class Ls extends VmCommand.Base {
        @Override
        int run(ApiClient c) {
            JsonNode r = c.get("/v1/images");
            System.out.printf("%-73s %10s %4s %5s %-24s %s%n", "DIGEST", "SIZE", "VMS", "SNAPS", "LAST USED", "REFS");
            for (JsonNode i : r.path("images")) {
                System.out.printf("%-73s %10s %4d %5d %-24s %s%n", i.path("digest").asText(),
                        String.format(java.util.Locale.ROOT, "%.1fMB", i.path("sizeBytes").asLong() / 1e6),
                        i.path("vms").asInt(), i.path("snapshots").asInt(), i.path("lastUsedAt").asText(),
                        String.join(",", toList(i.path("refs"))));
            }
            return 0;
        }

        private static java.util.List<String> toList(JsonNode array) {
            java.util.List<String> l = new java.util.ArrayList<>();
            array.forEach(n -> l.add(n.asText()));
            return l;
        }
    }

    @Command(name = "rm", description = "Delete a cached image by digest (refused while a VM or snapshot needs it).")
    static final class Rm extends VmCommand.Base {
        @Parameters(index = "0", description = "Image digest (sha256:…)") String digest;

        @Override
        int run(ApiClient c) {
            c.delete("/v1/images/" + digest);
            System.out.println(digest);
            return 0;
        }
    }
}
