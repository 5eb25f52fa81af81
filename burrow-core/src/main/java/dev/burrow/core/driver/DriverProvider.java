package dev.burrow.core.driver;

import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * Makes a {@link SandboxDriver} from the node's settings, found by {@link #name} through {@link ServiceLoader}
 * ({@code META-INF/services/dev.burrow.core.driver.DriverProvider} in the driver's jar), so the server wires a driver
 * by name without importing its classes. Each driver owns its options ({@link DriverContext#options()}) and documents
 * them on its provider.
 */
public interface DriverProvider {

    /** The name a server asks for ("runc"); also {@link SandboxDriver#name()} of what {@link #open} returns. */
    String name();

    /** Opens the driver; the caller closes it. Refuses a malformed or unknown option with IllegalArgumentException. */
    SandboxDriver open(DriverContext context);

    /**
     * Host directories the driver keeps its state in, besides the context's: error messages sent to clients must
     * never name them.
     */
    default List<Path> hostPaths(DriverContext context) {
        return List.of();
    }

    /** The provider of {@code name} on the class path, or IllegalArgumentException naming the ones there are. */
    static DriverProvider named(String name) {
        List<DriverProvider> all = ServiceLoader.load(DriverProvider.class).stream().map(ServiceLoader.Provider::get).toList();
        return all.stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow(() -> new IllegalArgumentException(
                "no sandbox driver named '" + name + "' (available: "
                        + all.stream().map(DriverProvider::name).sorted().collect(Collectors.joining(", ")) + ")"));
    }
}
