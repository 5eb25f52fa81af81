package dev.burrow.core.driver;

import java.nio.file.Path;

/**
 * The network namespace a running sandbox's processes use, for host work that must go through the VM's own network
 * (and so its egress policy) instead of the host's: {@code path} is a namespace file to enter ({@code setns},
 * {@code nsenter --net=}), {@code resolvConf} the resolver configuration the VM's processes get. Without VM
 * networking ({@code networked} false) the namespace has only a loopback of its own and resolves nothing.
 */
public record SandboxNetns(Path path, Path resolvConf, boolean networked) { }
