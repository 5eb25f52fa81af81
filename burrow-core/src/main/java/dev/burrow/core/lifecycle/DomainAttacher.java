package dev.burrow.core.lifecycle;

import java.util.List;

/**
 * The port the create pipeline's last step uses: a new VM's custom domains mapped (the server implements it with its
 * domain mappings). A VM that has its domains already (an idempotent replay) is left as it is. Throws when another
 * request took a domain since the API layer checked it; the create then fails whole and the VM is deleted.
 */
@FunctionalInterface
public interface DomainAttacher {
    DomainAttacher NONE = (vmId, domains) -> { };

    void attach(String vmId, List<CreateVmCommand.Domain> domains);
}
