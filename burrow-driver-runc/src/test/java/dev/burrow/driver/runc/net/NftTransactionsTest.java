package dev.burrow.driver.runc.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.DriverException;
import dev.burrow.core.testing.HostRequirements;
import dev.burrow.driver.runc.internal.HostCommand;

/**
 * Group commit against the real nft, in a table of the test's own with no hooks (it sees no packet): concurrent
 * scripts all apply, and a wrong one among them fails alone with its own error while the others still apply.
 */
class NftTransactionsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private final String table = "burrow_txtest_" + Long.toHexString(System.nanoTime());

    @BeforeEach
    void requireNft() {
        HostRequirements.requireRoot();
        HostRequirements.requireCommand("nft");
        NftTransactions.apply("add table inet " + table, TIMEOUT);
    }

    @AfterEach
    void dropTable() {
        HostCommand.of("nft", "delete", "table", "inet", table).run();
    }

    @Test
    void concurrentScriptsAllApplyAndAWrongOneFailsAlone() throws Exception {
        int n = 60;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<String>> results = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                // script 17 names a chain that does not exist: refused by nft
                String script = i == 17 ? "add rule inet " + table + " no_such_chain accept"
                        : "add chain inet " + table + " c" + i + "\nadd rule inet " + table + " c" + i + " counter accept";
                results.add(pool.submit(() -> {
                    go.await();
                    try {
                        NftTransactions.apply(script, TIMEOUT);
                        return "ok";
                    } catch (DriverException e) {
                        return e.getMessage();
                    }
                }));
            }
            go.countDown();
            for (int i = 0; i < n; i++) {
                String r = results.get(i).get();
                if (i == 17) assertThat(r).contains("no_such_chain");
                else assertThat(r).as("script %d", i).isEqualTo("ok");
            }
        } finally {
            pool.shutdownNow();
        }
        String listed = HostCommand.of("nft", "list", "table", "inet", table).check().stdout();
        for (int i = 0; i < n; i++) {
            if (i != 17) assertThat(listed).contains("chain c" + i + " {");
        }
        assertThat(listed).doesNotContain("no_such_chain");
    }
}
