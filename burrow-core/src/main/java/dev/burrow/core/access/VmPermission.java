package dev.burrow.core.access;

import java.time.Instant;
import java.util.List;

/**
 * An identity's right to enter one VM interactively. {@code allowedUsers} null means any Linux user; otherwise
 * only the users listed (an empty list lets nobody in). {@code grantedBy} names the API key that granted it.
 */
public record VmPermission(String id, String identityId, String vmId, List<String> allowedUsers, Instant grantedAt,
                           String grantedBy) {
    public VmPermission {
        allowedUsers = allowedUsers == null ? null : List.copyOf(allowedUsers);
    }

    public boolean allows(String linuxUser) {
        return allowedUsers == null || allowedUsers.contains(linuxUser);
    }
}
