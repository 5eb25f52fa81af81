package dev.burrow.core.vm;

import java.util.List;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * An exposed port (Freestyle's {@code {port, targetPort}}): requests for {@code port} of the VM's preview address
 * reach {@code targetPort} inside the VM. Private (a preview token is needed) unless {@code publicAccess}.
 */
public record PortMapping(int port, int targetPort, boolean publicAccess) {
    /** What Freestyle exposes when a create names no ports: the VM's port 3000 as 443. */
    public static final List<PortMapping> DEFAULT = List.of(new PortMapping(443, 3000, false));
    public static final int MAX_PORTS = 16;

    public PortMapping {
        if (port < 1 || port > 65535) throw invalid("'port' must be between 1 and 65535, got " + port);
        if (targetPort < 1 || targetPort > 65535) throw invalid("'targetPort' must be between 1 and 65535, got " + targetPort);
    }

    public static List<PortMapping> validate(List<PortMapping> ports) {
        if (ports.size() > MAX_PORTS) throw invalid("at most " + MAX_PORTS + " ports can be exposed");
        if (ports.stream().map(PortMapping::port).distinct().count() != ports.size()) throw invalid("'port' values must be unique");
        return List.copyOf(ports);
    }

    private static BurrowException invalid(String message) {
        return BurrowException.of(ErrorCode.INVALID_PORTS, message);
    }
}
