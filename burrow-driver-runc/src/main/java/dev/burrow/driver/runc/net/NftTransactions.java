package dev.burrow.driver.runc.net;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantLock;

import dev.burrow.core.driver.DriverException;
import dev.burrow.driver.runc.internal.HostCommand;

/**
 * Applies nftables scripts with group commit: scripts handed in while an {@code nft} runs are joined into the next
 * {@code nft -f -} as one transaction. The kernel serializes ruleset changes anyway (one commit mutex per network
 * namespace); 200 concurrent deletes used to start 200 {@code nft} processes that each parsed, cached and waited for
 * that mutex, and on a loaded machine some waited past their timeout. Now one runs at a time and carries everything
 * queued, so the cost is one process per burst.
 *
 * <p>Each script stays all-or-nothing: if a joined transaction fails (nft applies none of it), each of its scripts
 * is applied again on its own, so only the script that is wrong fails, with its own error.
 */
final class NftTransactions {
    private static final int MAX_JOINED = 256;
    private static final ConcurrentLinkedQueue<Pending> QUEUE = new ConcurrentLinkedQueue<>();
    private static final ReentrantLock RUNNING = new ReentrantLock();

    private NftTransactions() { }

    /** Applies {@code script} in one transaction (possibly joined with others'); throws if it cannot be applied. */
    static void apply(String script, Duration timeout) {
        Pending mine = new Pending(script);
        QUEUE.add(mine);
        while (!mine.done) {
            RUNNING.lock();
            try {
                // a caller that held the lock before us may have carried our script already
                if (!mine.done) runQueued(timeout);
            } finally {
                RUNNING.unlock();
            }
        }
        if (mine.failure != null) throw new DriverException(mine.failure);
    }

    private static void runQueued(Duration timeout) {
        List<Pending> batch = new ArrayList<>();
        Pending p;
        while (batch.size() < MAX_JOINED && (p = QUEUE.poll()) != null) batch.add(p);
        if (batch.isEmpty()) return;
        StringBuilder joined = new StringBuilder();
        for (Pending each : batch) joined.append(each.script).append('\n');
        HostCommand.Result r = run(joined.toString(), timeout);
        if (r.ok() || batch.size() == 1) {
            for (Pending each : batch) each.finish(r.ok() ? null : r.describeFailure());
            return;
        }
        for (Pending each : batch) {
            HostCommand.Result alone = run(each.script, timeout);
            each.finish(alone.ok() ? null : alone.describeFailure());
        }
    }

    private static HostCommand.Result run(String script, Duration timeout) {
        return HostCommand.of("nft", "-f", "-").stdin(script.getBytes(StandardCharsets.UTF_8)).timeout(timeout).run();
    }

    private static final class Pending {
        final String script;
        volatile boolean done;
        volatile String failure;

        Pending(String script) {
            this.script = script;
        }

        void finish(String failure) {
            this.failure = failure;
            this.done = true;
        }
    }
}
