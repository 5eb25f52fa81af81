package dev.burrow.driver.runc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;

import dev.burrow.core.driver.DriverContext;
import dev.burrow.core.driver.DriverProvider;
import dev.burrow.core.driver.SandboxDriver;
import dev.burrow.core.net.Ipv4Cidr;
import dev.burrow.driver.runc.internal.OciImageStore;

/**
 * The runc driver by name ("runc"). Its state lives in {@code <dataDir>/runc}, runc's own in {@code /run/burrow/<nodeId>}.
 * Options (all optional):
 * <ul>
 *   <li>{@code storage}: {@code auto} (default), {@code btrfs} or {@code overlay}; {@code btrfs-image-size-mb}</li>
 *   <li>{@code network}: {@code on} gives each VM a network of its own (default {@code off}: loopback only);
 *       {@code vm-subnet} (kept in {@code <dataDir>/vm-subnet}: VM addresses live in leases that must stay valid across
 *       restarts, so a range picked at random on the first start, or given once, is the node's from then on),
 *       {@code vm-dns} and {@code vm-allow-private} (comma-separated)</li>
 *   <li>{@code vm-pids-max} (processes per VM) and {@code node-pids-max} (all VMs together)</li>
 *   <li>{@code registry-auth-file} and {@code insecure-registries} (comma-separated) for image pulls</li>
 * </ul>
 */
public final class RuncDriverProvider implements DriverProvider {
    private static final SecureRandom RANDOM = new SecureRandom();

    @Override
    public String name() {
        return "runc";
    }

    @Override
    public SandboxDriver open(DriverContext context) {
        Path imageDir = context.imageDir().toAbsolutePath();
        var settings = OciImageStore.Settings.defaults().withInsecureRegistries(new LinkedHashSet<>(list(context, "insecure-registries")));
        String authFile = context.option("registry-auth-file", null);
        if (authFile != null) settings = settings.withAuthFile(Path.of(authFile));
        return new RuncDriver(config(context), new OciImageStore(imageDir, settings));
    }

    @Override
    public List<Path> hostPaths(DriverContext context) {
        return List.of(base(context).runcRoot());
    }

    /** The driver's settings from the context's options. */
    static RuncDriverConfig config(DriverContext context) {
        RuncDriverConfig base = base(context);
        var storage = RuncDriverConfig.Storage.valueOf(context.option("storage", "auto").toUpperCase(Locale.ROOT));
        long btrfsMb = Long.parseLong(context.option("btrfs-image-size-mb", "0"));
        int vmPids = Integer.parseInt(context.option("vm-pids-max", Integer.toString(RuncDriverConfig.DEFAULT_PIDS_LIMIT)));
        long nodePids = Long.parseLong(context.option("node-pids-max", "0"));
        return new RuncDriverConfig(base.dataDir(), base.imageDir(), base.runcRoot(), base.nodeId(), vmPids, storage,
                btrfsMb, network(context), nodePids);
    }

    private static RuncDriverConfig base(DriverContext context) {
        return RuncDriverConfig.forDataDir(context.dataDir().toAbsolutePath().normalize(),
                context.imageDir().toAbsolutePath(), context.nodeId());
    }

    private static NetworkSettings network(DriverContext context) {
        if (!"on".equals(context.option("network", "off"))) return null;
        Path file = context.dataDir().resolve("vm-subnet");
        String subnet;
        try {
            String given = context.option("vm-subnet", null);
            if (given != null) {
                subnet = Ipv4Cidr.parse(given).toString();
                Files.writeString(file, subnet + "\n");
            } else if (Files.exists(file)) {
                subnet = Files.readString(file).strip();
            } else {
                subnet = NetworkSettings.pickFreeSubnet(RANDOM).toString();
                Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
                Files.writeString(tmp, subnet + "\n");
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or write " + file, e);
        }
        List<String> dns = list(context, "vm-dns");
        var upstreams = dns.isEmpty() ? NetworkSettings.hostResolvers() : dns.stream().map(NetworkSettings::parseUpstream).toList();
        if (upstreams.isEmpty()) {
            throw new IllegalArgumentException("no DNS server for VMs: /etc/resolv.conf names none; give --vm-dns");
        }
        return new NetworkSettings(Ipv4Cidr.parse(subnet), upstreams,
                list(context, "vm-allow-private").stream().map(Ipv4Cidr::parse).toList());
    }

    private static List<String> list(DriverContext context, String key) {
        String v = context.option(key, "");
        return v.isBlank() ? List.of() : Arrays.stream(v.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
    }
}
