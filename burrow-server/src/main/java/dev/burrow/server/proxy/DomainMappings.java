package dev.burrow.server.proxy;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.domain.DomainMapping;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.DomainAttacher;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.store.DomainStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * Custom domains of VMs (the create field {@code domains} and {@code /domains/v1/mappings}): validation, who may map
 * what, and the lookup the preview proxy routes by.
 *
 * <p>A domain maps to one VM at most (409 DOMAIN_ALREADY_MAPPED otherwise). There is no DNS verification (a hosted
 * service's way to prove ownership): the operator restricts which domains may be mapped with
 * {@code --allowed-domain-suffix} (none given: any). {@code vmPort} defaults to 443 as in Freestyle and is resolved
 * like a preview port when a request arrives: the targetPort of the VM's exposed port {@code vmPort} if it has one
 * (so the default reaches Freestyle's default 443→3000), else port {@code vmPort} in the VM itself. Traffic on a
 * mapped domain is public: mapping a domain is the act of publishing.
 */
public final class DomainMappings {
    private static final Logger log = LoggerFactory.getLogger(DomainMappings.class);
    public static final int DEFAULT_VM_PORT = 443;
    public static final int MAX_PER_CREATE = 16;

    /** A domain asked for at create time, validated. */
    public record Requested(String domain, int vmPort) { }

    private final DomainStore store;
    private final LifecycleCoordinator lifecycle;
    private final List<String> allowedSuffixes;
    private final String baseDomain;
    private final Clock clock;

    public DomainMappings(DomainStore store, LifecycleCoordinator lifecycle, List<String> allowedSuffixes, String baseDomain,
                          Clock clock) {
        this.store = store;
        this.lifecycle = lifecycle;
        this.allowedSuffixes = List.copyOf(allowedSuffixes);
        this.baseDomain = baseDomain.toLowerCase(Locale.ROOT);
        this.clock = clock;
    }

    /**
     * A host name as it is stored: lower case, without a trailing dot; at least two labels of letters, digits and
     * inner hyphens, at most 253 characters, a top-level label that is not numeric (no IP addresses), no wildcard.
     */
    public static String normalize(String raw) {
        if (raw == null || raw.isBlank()) throw invalid("'domain' is required");
        String d = raw.strip().toLowerCase(Locale.ROOT);
        if (d.endsWith(".")) d = d.substring(0, d.length() - 1);
        if (d.length() > 253) throw invalid("domain is longer than 253 characters");
        String[] labels = d.split("\\.", -1);
        if (labels.length < 2) throw invalid("'" + raw + "' is not a fully qualified domain name (it needs a dot)");
        for (String l : labels) {
            if (!l.matches("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")) {
                throw invalid("'" + raw + "' is not a valid domain name (labels are 1-63 letters, digits or inner hyphens)");
            }
        }
        if (labels[labels.length - 1].matches("[0-9]+")) throw invalid("'" + raw + "' is an IP address, not a domain name");
        return d;
    }

    /** Whether the operator lets {@code domain} be mapped, and that it does not collide with preview host names. */
    void checkAllowed(String domain) {
        if (domain.equals(baseDomain) || domain.endsWith("." + baseDomain)) {
            throw BurrowException.of(ErrorCode.DOMAIN_NOT_ALLOWED, "'" + domain + "' is under the preview domain '"
                    + baseDomain + "', whose names the proxy routes itself ({port}-{vmId}." + baseDomain + ")");
        }
        if (allowedSuffixes.isEmpty()) return;
        for (String s : allowedSuffixes) if (domain.equals(s) || domain.endsWith("." + s)) return;
        throw BurrowException.of(ErrorCode.DOMAIN_NOT_ALLOWED, "this server maps only domains under "
                + String.join(", ", allowedSuffixes) + "; '" + domain + "' is not one of them");
    }

    /**
     * The create field {@code domains} ({@code [{domain, vmPort?}]}), validated and checked for availability so
     * that a create that cannot get its domains fails before a VM exists. Null or empty: none. {@code maybeReplay}: the
     * create carries an Idempotency-Key, so a taken domain may be its own VM's (a replay); {@link #attach} decides.
     */
    public List<Requested> parseCreate(List<Map<String, Object>> domains, boolean maybeReplay) {
        if (domains == null || domains.isEmpty()) return List.of();
        if (domains.size() > MAX_PER_CREATE) throw invalid("at most " + MAX_PER_CREATE + " domains per VM at create");
        List<Requested> out = new ArrayList<>();
        for (Map<String, Object> d : domains) {
            if (d == null) throw invalid("'domains' contains null");
            if (!(d.get("domain") instanceof String name)) throw invalid("'domains[].domain' is required and must be a string");
            for (String k : d.keySet()) {
                if (!k.equals("domain") && !k.equals("vmPort")) throw invalid("'domains[]." + k + "' is not a known field");
            }
            Object port = d.get("vmPort");
            if (port != null && !(port instanceof Integer)) throw invalid("'domains[].vmPort' must be an integer");
            String domain = normalize(name);
            checkAllowed(domain);
            int vmPort = port == null ? DEFAULT_VM_PORT : validPort((Integer) port);
            if (out.stream().anyMatch(r -> r.domain().equals(domain))) throw invalid("domain '" + domain + "' is given twice");
            if (!maybeReplay) {
                store.findMapping(domain).ifPresent(m -> {
                    throw taken(domain, m.vmId());
                });
            }
            out.add(new Requested(domain, vmPort));
        }
        return out;
    }

    /**
     * The create pipeline's domains step: a new VM's domains recorded, unless it has some already (an idempotent
     * replay's VM); throws 409 when another request took one meanwhile.
     */
    public DomainAttacher createAttacher() {
        return (vmId, wanted) -> {
            if (!forVm(vmId).isEmpty()) return;
            attach(vmId, wanted.stream().map(d -> new Requested(d.domain(), d.vmPort())).toList());
        };
    }

    /** Records the domains of a VM just created; throws 409 when another request took one meanwhile. */
    public void attach(String vmId, List<Requested> domains) {
        List<String> done = new ArrayList<>();
        for (Requested r : domains) {
            if (!store.insertMapping(new DomainMapping(UUID.randomUUID().toString(), r.domain(), vmId, r.vmPort(), clock.instant()))) {
                done.forEach(store::deleteMapping);
                throw taken(r.domain(), store.findMapping(r.domain()).map(DomainMapping::vmId).orElse("another VM"));
            }
            done.add(r.domain());
        }
    }

    /**
     * {@code POST /domains/v1/mappings/{domain}}: maps a domain to a VM, or changes the port of its mapping to the
     * same VM; 409 when it belongs to another VM.
     */
    public DomainMapping map(String rawDomain, String vmId, Integer vmPort) {
        String domain = normalize(rawDomain);
        checkAllowed(domain);
        int port = vmPort == null ? DEFAULT_VM_PORT : validPort(vmPort);
        Vm vm = lifecycle.get(vmId);
        if (vm.status() == VmStatus.DELETED || vm.status() == VmStatus.DELETING) {
            throw new BurrowException(ErrorCode.VM_NOT_FOUND, "VM not found: " + vmId);
        }
        var existing = store.findMapping(domain);
        if (existing.isPresent()) {
            if (!existing.get().vmId().equals(vm.id())) throw taken(domain, existing.get().vmId());
            store.updateMappingPort(domain, vm.id(), port);
            return store.findMapping(domain).orElseThrow(() -> taken(domain, "another VM"));
        }
        var m = new DomainMapping(UUID.randomUUID().toString(), domain, vm.id(), port, clock.instant());
        if (!store.insertMapping(m)) throw taken(domain, store.findMapping(domain).map(DomainMapping::vmId).orElse("another VM"));
        return m;
    }

    /** What lets {@code domain} be mapped: the allowed suffix it is under, or the domain itself when any is allowed. */
    public String ownership(String domain) {
        for (String s : allowedSuffixes) if (domain.equals(s) || domain.endsWith("." + s)) return s;
        return domain;
    }

    public void unmap(String rawDomain) {
        String domain = normalize(rawDomain);
        if (!store.deleteMapping(domain)) {
            throw new BurrowException(ErrorCode.DOMAIN_MAPPING_NOT_FOUND, "'" + domain + "' is not mapped");
        }
    }

    public List<DomainMapping> list(String domain, int limit, int offset) {
        return store.listMappings(domain == null ? null : normalize(domain), limit, offset);
    }

    public List<DomainMapping> forVm(String vmId) {
        return store.mappingsForVm(vmId);
    }

    /** The mapping the proxy routes a Host to (lower case, port removed), if any. */
    public Optional<DomainMapping> route(String host) {
        if (host == null || host.isEmpty() || host.indexOf('.') < 0) return Optional.empty();
        String h = host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
        return store.findMapping(h);
    }

    /** Drops a VM's mappings once it is deleted, freeing its domains. */
    public TransitionListener vmDeletionListener() {
        return (vm, from, op, cause, durationMs, reason) -> {
            if (vm.status() != VmStatus.DELETED) return;
            try {
                int n = store.deleteMappingsForVm(vm.id());
                if (n > 0) log.info("unmapped {} domain(s) of deleted VM vm_id={}", n, vm.id());
            } catch (RuntimeException e) {
                log.warn("could not unmap the domains of deleted VM vm_id={}: {}", vm.id(), e.getMessage());
            }
        };
    }

    private static int validPort(int port) {
        if (port < 1 || port > 65535) throw invalid("'vmPort' must be between 1 and 65535, got " + port);
        return port;
    }

    private static BurrowException taken(String domain, String vmId) {
        return new BurrowException(ErrorCode.DOMAIN_ALREADY_MAPPED,
                "domain '" + domain + "' is already mapped to VM " + vmId + "; a domain maps to one VM");
    }

    private static BurrowException invalid(String message) {
        return BurrowException.of(ErrorCode.INVALID_DOMAIN, message);
    }
}
