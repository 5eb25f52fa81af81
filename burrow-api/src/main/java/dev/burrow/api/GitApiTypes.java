package dev.burrow.api;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** Shapes of the create fields {@code gitRepos} (deprecated by Freestyle, still sent) and {@code git}. */
public final class GitApiTypes {
    private GitApiTypes() { }

    /**
     * A repository cloned into the VM at create: {@code repo} (Freestyle; {@code url} is accepted as well) is an
     * https://, http:// or git:// URL, {@code path} absolute in the VM, {@code rev} a branch, tag or commit.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record GitRepo(String repo, String url, String path, String rev) { }

    /** {@code git}: {@code config.user} becomes the VM's /etc/gitconfig; {@code repos} as {@code gitRepos}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record GitOptions(GitConfig config, List<GitRepo> repos) { }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record GitConfig(GitUser user) { }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record GitUser(String name, String email, String signingkey) { }
}
