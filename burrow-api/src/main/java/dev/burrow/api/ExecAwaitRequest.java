package dev.burrow.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** {@code POST /v1/vms/{id}/exec-await}: a shell command and an optional timeout in milliseconds. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ExecAwaitRequest(String command, String terminal, Long timeoutMs) {
}
