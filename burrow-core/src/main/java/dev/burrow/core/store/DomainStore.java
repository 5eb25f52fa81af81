package dev.burrow.core.store;

import java.util.List;
import java.util.Optional;

import dev.burrow.core.domain.DomainMapping;

/** Persistence of custom-domain mappings. The domain is unique: the store, not the caller, decides who wins. */
public interface DomainStore {

    /** Inserts a mapping; false, inserting nothing, when the domain is already mapped (to any VM). */
    boolean insertMapping(DomainMapping mapping);

    /** Changes the port of a domain's mapping if it belongs to {@code vmId}; false when it does not. */
    boolean updateMappingPort(String domain, String vmId, int vmPort);

    Optional<DomainMapping> findMapping(String domain);

    /** Mappings ordered by creation time (oldest first), optionally only those of one domain. */
    List<DomainMapping> listMappings(String domain, int limit, int offset);

    List<DomainMapping> mappingsForVm(String vmId);

    boolean deleteMapping(String domain);

    /** Removes every mapping of a VM; returns how many. */
    int deleteMappingsForVm(String vmId);
}
