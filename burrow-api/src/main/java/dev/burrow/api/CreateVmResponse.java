package dev.burrow.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;

/** Freestyle's create response: the SDK requires {@code id} and a {@code domains} array. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CreateVmResponse(String id, List<String> domains, String consoleUrl, String snapshotId, String state) {
}
