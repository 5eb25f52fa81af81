package dev.burrow.api;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * Body of {@code POST /v1/vms}: the Freestyle create request plus Burrow's own fields ({@code image},
 * {@code env}, {@code labels}, {@code memSizeMb}, {@code rootfsSizeMb}, {@code network}). Every field is optional and may be
 * null. Fields the vendor SDK sends that Burrow does not know are ignored; fields Burrow knows but cannot
 * honour yet are refused by the server with a 400 rather than silently dropped.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CreateVmRequest(
        String image,
        Integer vcpuCount,
        Integer memSizeMb,
        Double memSizeGb,
        Integer rootfsSizeMb,
        Double rootfsSizeGb,
        Map<String, String> env,
        String workdir,
        Integer idleTimeoutSeconds,
        Persistence persistence,
        Map<String, String> labels,
        Map<String, AdditionalFile> additionalFiles,
        String snapshotId,
        Map<String, Object> template,
        List<GitApiTypes.GitRepo> gitRepos,
        GitApiTypes.GitOptions git,
        SystemdApiTypes.SystemdConfig systemd,
        List<AccountApiTypes.LinuxUser> users,
        List<AccountApiTypes.LinuxGroup> groups,
        List<String> aptDeps,
        List<Map<String, Object>> ports,
        List<Map<String, Object>> domains,
        Boolean waitForReadySignal,
        Integer readySignalTimeoutSeconds,
        Boolean recreate,
        String discriminator,
        Boolean skipCache,
        Long activityThresholdBytes,
        NetworkPolicyBody network) {

    /** Freestyle persistence: {@code {type: sticky|ephemeral|persistent, priority?, deleteEvent?}}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Persistence(String type, Integer priority, String deleteEvent) { }

    /** A file written into the VM at create: {@code content} in {@code encoding} (utf-8 or base64). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record AdditionalFile(String content, String encoding, Boolean executable) { }
}
