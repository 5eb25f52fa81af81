package dev.burrow.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Looks at the host directly (not through the driver) for anything a VM left behind: a runc container,
 * a mount, a cgroup, a network namespace, a veth (with its tc qdiscs), an nftables chain or set, an address
 * lease, a directory, a process.
 */
public final class HostInspection {
    private HostInspection() { }

    /**
     * A killed container's processes are zombies for a moment until the host's init reaps them; they hold
     * no resources and their cgroup is already gone, so they are not leftovers.
     */
    private static boolean zombie(Path proc) {
        try {
            String stat = Files.readString(proc.resolve("stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state == 'Z' || state == 'X';
        } catch (IOException | RuntimeException e) {
            return true; // gone while we looked
        }
    }

    /** The host's whole nftables ruleset as text ("" when nft is not installed). */
    static String nftRuleset() {
        try {
            Process p = new ProcessBuilder("nft", "list", "ruleset").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            p.waitFor();
            return out;
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    public static List<String> leftovers(String vmId, Path dataDir, String nodeId) {
        List<String> found = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                if (line.contains(vmId)) found.add("mount: " + line);
            }
            Path runcRoot = Path.of("/run/burrow", nodeId);
            if (Files.isDirectory(runcRoot.resolve("burrow-" + vmId))) found.add("runc state: " + runcRoot.resolve("burrow-" + vmId));
            try (var ctrls = Files.list(Path.of("/sys/fs/cgroup"))) {
                for (Path ctrl : ctrls.toList()) {
                    Path cg = ctrl.resolve("burrow-" + nodeId).resolve(vmId);
                    if (Files.exists(cg)) found.add("cgroup: " + cg);
                }
            }
            try (var walk = Files.walk(dataDir, 4)) {
                walk.filter(p -> p.getFileName().toString().contains(vmId)).forEach(p -> found.add("path: " + p));
            }
            Path netns = Path.of("/run/netns");
            if (Files.isDirectory(netns)) {
                try (var ns = Files.list(netns)) {
                    ns.filter(p -> p.getFileName().toString().contains(vmId)).forEach(p -> found.add("netns: " + p));
                }
            }
            // host ends of VM veths carry the VM id in their alias; their tc qdiscs go with them
            try (var ifs = Files.list(Path.of("/sys/class/net"))) {
                for (Path i : ifs.toList()) {
                    try {
                        if (Files.readString(i.resolve("ifalias")).contains(vmId)) found.add("veth: " + i.getFileName());
                    } catch (IOException gone) {
                        // interface removed while we looked, or no alias file
                    }
                }
            }
            String rules = nftRuleset();
            for (String line : rules.split("\n")) {
                if (line.contains(vmId)) found.add("nft: " + line.strip());
            }
            try (var procs = Files.list(Path.of("/proc"))) {
                for (Path p : procs.toList()) {
                    if (!p.getFileName().toString().matches("\\d+")) continue;
                    try {
                        String cg = Files.readString(p.resolve("cgroup"));
                        if (cg.contains(vmId) && !zombie(p)) {
                            found.add("process " + p.getFileName() + " in cgroup of " + vmId);
                        }
                    } catch (IOException gone) {
                        // process exited while we looked
                    }
                }
            }
        } catch (IOException e) {
            found.add("inspection failed: " + e);
        }
        return found;
    }
}
