package dev.burrow.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** Shapes of the create fields {@code users} and {@code groups} (Linux accounts made in the VM at create). */
public final class AccountApiTypes {
    private AccountApiTypes() { }

    /**
     * A Linux user: {@code uid} fixed or allocated (from 1000 up, system users from 999 down), a group of its own
     * name as primary group, {@code groups} as supplementary groups, {@code home} (default /home/{name}, / for system
     * users; created for regular users) and {@code shell} (default /bin/bash, or /bin/sh where the image has no bash;
     * /usr/sbin/nologin for system users).
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record LinuxUser(String name, Long uid, String gecos, List<String> groups, String home, String shell,
                            Boolean system) { }

    /** A Linux group, {@code gid} fixed or allocated (from 1000 up, system groups from 999 down). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record LinuxGroup(String name, Long gid, Boolean system) { }
}
