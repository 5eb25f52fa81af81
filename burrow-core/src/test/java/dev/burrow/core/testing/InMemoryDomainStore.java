package dev.burrow.core.testing;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import dev.burrow.core.domain.DomainMapping;
import dev.burrow.core.store.DomainStore;

/** Domain mappings keyed by domain (unique, first insert wins), with the SQL store's orderings. */
public final class InMemoryDomainStore implements DomainStore {
    private static final Comparator<DomainMapping> OLDEST_FIRST =
            Comparator.comparing(DomainMapping::createdAt).thenComparing(DomainMapping::id);
    private final Map<String, DomainMapping> byDomain = new LinkedHashMap<>();

    @Override
    public synchronized boolean insertMapping(DomainMapping mapping) {
        return byDomain.putIfAbsent(mapping.domain(), mapping) == null;
    }

    @Override
    public synchronized boolean updateMappingPort(String domain, String vmId, int vmPort) {
        DomainMapping m = byDomain.get(domain);
        if (m == null || !m.vmId().equals(vmId)) return false;
        byDomain.put(domain, new DomainMapping(m.id(), m.domain(), m.vmId(), vmPort, m.createdAt()));
        return true;
    }

    @Override
    public synchronized Optional<DomainMapping> findMapping(String domain) {
        return Optional.ofNullable(byDomain.get(domain));
    }

    @Override
    public synchronized List<DomainMapping> listMappings(String domain, int limit, int offset) {
        return byDomain.values().stream().filter(m -> domain == null || m.domain().equals(domain)).sorted(OLDEST_FIRST)
                .skip(offset).limit(limit).toList();
    }

    @Override
    public synchronized List<DomainMapping> mappingsForVm(String vmId) {
        return byDomain.values().stream().filter(m -> m.vmId().equals(vmId)).sorted(OLDEST_FIRST).toList();
    }

    @Override
    public synchronized boolean deleteMapping(String domain) {
        return byDomain.remove(domain) != null;
    }

    @Override
    public synchronized int deleteMappingsForVm(String vmId) {
        int before = byDomain.size();
        byDomain.values().removeIf(m -> m.vmId().equals(vmId));
        return before - byDomain.size();
    }
}
