package dev.burrow.server.cli;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.server.Main;
import dev.burrow.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code burrow vm …}: the CLI over the HTTP API. */
@Command(name = "vm", description = "Manage VMs through a running server.",
        subcommands = {VmCommand.Create.class, VmCommand.Ls.class, VmCommand.Get.class, VmCommand.Exec.class,
                VmCommand.Rm.class, VmCommand.Lifecycle.class, VmCommand.Cat.class, VmCommand.Write.class,
                VmCommand.Ssh.class})
public final class VmCommand implements Runnable {
    @Override
    public void run() {
        picocli.CommandLine.usage(this, System.out);
    }

    /** Connection options shared by every subcommand. */
    public static final class Conn {
        @Option(names = "--url", description = "Server URL (default $BURROW_URL or http://127.0.0.1:" + ServerConfig.DEFAULT_PORT + ").")
        String url;
        @Option(names = "--api-key", description = "API key (default $BURROW_API_KEY or ./data/admin-key).")
        String apiKey;
        @Option(names = "--data-dir", defaultValue = "./data", hidden = true)
        Path dataDir;

        ApiClient client() {
            String u = url != null ? url : System.getenv().getOrDefault("BURROW_URL",
                    "http://127.0.0.1:" + ServerConfig.DEFAULT_PORT);
            return new ApiClient(u, Main.resolveKey(apiKey, dataDir));
        }
    }

    abstract static class Base implements Callable<Integer> {
        @Mixin Conn conn;

        @Override
        public Integer call() {
            try {
                return run(conn.client());
            } catch (ApiClient.ApiError e) {
                System.err.println("error: " + e.getMessage());
                return 1;
            } catch (IllegalStateException e) {
                System.err.println("error: " + e.getMessage());
                return 2;
            }
        }

        abstract int run(ApiClient c);
    }

    /**
     * What the Freestyle CLI's {@code vm ssh} does, against Burrow: a throwaway identity with a permission on the
     * VM and a short-lived token, the system's {@code ssh} with the token in the user name, then the token and
     * the identity are deleted again.
     */
    @Command(name = "ssh", description = "Open an SSH session in a VM (or run a command) through the SSH gateway.")
    static final class Ssh extends Base {
        @Parameters(index = "0", description = "VM id") String id;
        @Parameters(index = "1..*", description = "Command to run instead of a shell") java.util.List<String> command;
        @Option(names = "--user", description = "Linux user in the VM (default root).") String user;
        @Option(names = "--ssh-port", defaultValue = "" + ServerConfig.Ssh.DEFAULT_PORT, description = "Gateway port (default ${DEFAULT-VALUE}).")
        int sshPort;
        @Option(names = "--ssh-host", description = "Gateway host (default: the API URL's host).") String sshHost;
        @Option(names = "-o", description = "An ssh option (key=value), passed on; repeatable.") java.util.List<String> sshOptions;

        @Override
        int run(ApiClient c) {
            String identity = c.post("/identity/v1/identities", null).get("id").asText();
            try {
                c.post("/identity/v1/identities/" + identity + "/permissions/vm/" + id, Map.of());
                JsonNode t = c.post("/identity/v1/identities/" + identity + "/tokens", Map.of("expiresInSeconds", 12 * 3600));
                String host = sshHost != null ? sshHost : java.net.URI.create(c.baseUrl()).getHost();
                java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("ssh", "-p", Integer.toString(sshPort)));
                if (sshOptions != null) sshOptions.forEach(o -> argv.addAll(java.util.List.of("-o", o)));
                argv.add(id + (user != null ? "+" + user : "") + ":" + t.get("token").asText() + "@" + host);
                if (command != null && !command.isEmpty()) {
                    argv.add("--");
                    argv.addAll(command);
                }
                try {
                    return new ProcessBuilder(argv).inheritIO().start().waitFor();
                } catch (java.io.IOException e) {
                    throw new IllegalStateException("cannot run ssh (install openssh-client): " + e.getMessage());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return 130;
                }
            } finally {
                c.delete("/identity/v1/identities/" + identity);
            }
        }
    }

    @Command(name = "create", description = "Create and start a VM; prints its id.")
    static final class Create extends Base {
        @Option(names = "--image", description = "Image reference (builtin:debian, builtin:busybox, oci:/path:tag, registry ref).")
        String image;
        @Option(names = "--vcpus") Integer vcpus;
        @Option(names = "--mem-mb") Integer memMb;
        @Option(names = "--label", description = "key=value, repeatable") Map<String, String> labels;

        @Override
        int run(ApiClient c) {
            Map<String, Object> body = new LinkedHashMap<>();
            if (image != null) body.put("image", image);
            if (vcpus != null) body.put("vcpuCount", vcpus);
            if (memMb != null) body.put("memSizeMb", memMb);
            if (labels != null) body.put("labels", labels);
            // The create answers once the VM runs; meanwhile the image pull it waits for (if any) is shown on stderr.
            var pending = java.util.concurrent.CompletableFuture.supplyAsync(() -> c.post("/v1/vms", body),
                    java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
            PullProgressBar bar = PullProgressBar.onStderr();
            while (!pending.isDone()) {
                try {
                    JsonNode pull = activePull(c, image);
                    if (pull != null) bar.update(pull);
                } catch (RuntimeException e) {
                    // progress is a nicety; the create's own answer decides the outcome
                }
                if (!pending.isDone()) sleep(200);
            }
            bar.finish();
            JsonNode r;
            try {
                r = pending.join();
            } catch (java.util.concurrent.CompletionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw e;
            }
            System.out.println(r.get("id").asText());
            return 0;
        }

        /** The unfinished pull of {@code image} (of any image when none was given: the server's default). */
        private static JsonNode activePull(ApiClient c, String image) {
            for (JsonNode p : c.get("/v1/images").path("pulls")) {
                String phase = p.path("phase").asText();
                if (phase.equals("ready") || phase.equals("failed")) continue;
                if (image == null || image.equals(p.path("image").asText())) return p;
            }
            return null;
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Command(name = "ls", description = "List VMs.")
    static final class Ls extends Base {
        @Override
        int run(ApiClient c) {
            JsonNode r = c.get("/v1/vms");
            System.out.printf("%-22s %-10s %-24s %s%n", "ID", "STATE", "CREATED", "IMAGE");
            for (JsonNode vm : r.get("vms")) {
                System.out.printf("%-22s %-10s %-24s %s%n", vm.get("id").asText(), vm.get("status").asText(),
                        vm.path("createdAt").asText(), vm.path("image").asText());
            }
            return 0;
        }
    }

    @Command(name = "get", description = "Show one VM as JSON.")
    static final class Get extends Base {
        @Parameters(index = "0") String id;

        @Override
        int run(ApiClient c) {
            System.out.println(c.get("/v1/vms/" + id).toPrettyString());
            return 0;
        }
    }

    @Command(name = "exec", description = "Run a shell command in a VM; exits with its exit code.")
    static final class Exec extends Base {
        @Parameters(index = "0") String id;
        @Parameters(index = "1..*", arity = "1..*", description = "Command (joined with spaces, run by /bin/sh -c).")
        java.util.List<String> command;
        @Option(names = "--timeout-ms") Long timeoutMs;

        @Override
        int run(ApiClient c) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("command", String.join(" ", command));
            body.put("timeoutMs", timeoutMs);
            JsonNode r = c.post("/v1/vms/" + id + "/exec-await", body);
            System.out.print(r.path("stdout").asText());
            System.err.print(r.path("stderr").asText());
            return r.path("statusCode").asInt();
        }
    }

    @Command(name = "rm", description = "Delete VMs.")
    static final class Rm extends Base {
        @Parameters(arity = "1..*") java.util.List<String> ids;

        @Override
        int run(ApiClient c) {
            for (String id : ids) {
                c.delete("/v1/vms/" + id);
                System.out.println(id);
            }
            return 0;
        }
    }

    @Command(name = "do", description = "Lifecycle action: start, stop, suspend or kill.")
    static final class Lifecycle extends Base {
        @Parameters(index = "0", description = "start|stop|suspend|kill") String action;
        @Parameters(index = "1") String id;

        @Override
        int run(ApiClient c) {
            if (!java.util.Set.of("start", "stop", "suspend", "kill").contains(action)) {
                System.err.println("error: action must be start, stop, suspend or kill");
                return 2;
            }
            JsonNode r = c.post("/v1/vms/" + id + "/" + action, action.equals("start") ? Map.of() : null);
            System.out.println(id + " " + r.path("state").asText());
            return 0;
        }
    }

    @Command(name = "cat", description = "Print a file from a VM.")
    static final class Cat extends Base {
        @Parameters(index = "0") String id;
        @Parameters(index = "1") String path;

        @Override
        int run(ApiClient c) {
            JsonNode r = c.get("/v1/vms/" + id + "/files/" + URLEncoder.encode(path, StandardCharsets.UTF_8).replace("+", "%20"));
            if (r.has("files")) {
                for (JsonNode f : r.get("files")) System.out.println(f.get("name").asText() + (f.get("kind").asText().equals("directory") ? "/" : ""));
            } else {
                byte[] b = "base64".equals(r.path("encoding").asText()) ? Base64.getDecoder().decode(r.get("content").asText())
                        : r.get("content").asText().getBytes(StandardCharsets.UTF_8);
                System.out.write(b, 0, b.length);
                System.out.flush();
            }
            return 0;
        }
    }

    @Command(name = "write", description = "Write a local file (or '-' for stdin) to a path in a VM.")
    static final class Write extends Base {
        @Parameters(index = "0") String id;
        @Parameters(index = "1") String path;
        @Parameters(index = "2") String source;

        @Override
        int run(ApiClient c) {
            try {
                byte[] b = source.equals("-") ? System.in.readAllBytes() : Files.readAllBytes(Path.of(source));
                c.put("/v1/vms/" + id + "/files/" + URLEncoder.encode(path, StandardCharsets.UTF_8).replace("+", "%20"),
                        Map.of("content", Base64.getEncoder().encodeToString(b), "encoding", "base64"));
                return 0;
            } catch (java.io.IOException e) {
                System.err.println("error: " + e.getMessage());
                return 2;
            }
        }
    }
}
