package dev.burrow.core.lifecycle;

import java.util.List;

import dev.burrow.core.driver.SandboxNetns;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;

/**
 * The port the create pipeline's clone step uses: repositories cloned on the host through a VM's network namespace
 * (the server implements it with git). A failed clone throws and the create is rolled back.
 */
@FunctionalInterface
public interface RepoCloner {
    /** Refuses every repository: a server without git. */
    RepoCloner NONE = (repos, netns) -> {
        throw BurrowException.of(ErrorCode.UNSUPPORTED_FIELD, "this server cannot clone repositories; remove 'gitRepos'/'git.repos'");
    };

    /** {@code netns} is null when the driver gives VMs no network namespace. */
    Clones cloneAll(List<CreateVmCommand.Repo> repos, SandboxNetns netns);

    /** Checkouts on the host, scratch: closing deletes them (the pipeline does once they are copied in, or failed). */
    interface Clones extends AutoCloseable {
        List<CreateVmCommand.TreeCopy> trees();

        @Override
        void close();
    }
}
