package dev.burrow.core.driver;

/** Where a sandbox sits on the VM network: its IPv4 address and the gateway (which also answers its DNS). */
public record NetworkInfo(String address, String gateway) { }
