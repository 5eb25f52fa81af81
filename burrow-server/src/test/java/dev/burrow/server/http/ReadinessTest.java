package dev.burrow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;

/** The probe logic on its own: failures are named, a hung check is bounded and not piled up. */
class ReadinessTest {

    @Test
    void readyWhenEveryCheckReturns() {
        var r = new Readiness(List.of(new Readiness.Check("a", () -> { }), new Readiness.Check("b", () -> { })),
                Duration.ofSeconds(2)).check();
        assertThat(r.ready()).isTrue();
        assertThat(r.checks()).containsEntry("a", "ok").containsEntry("b", "ok");
        assertThat(r.failures()).isEmpty();
    }

    @Test
    void aThrowingCheckIsNamedWithItsMessage() {
        var r = new Readiness(List.of(new Readiness.Check("store", () -> { throw new IllegalStateException("db gone"); }),
                new Readiness.Check("driver", () -> { })), Duration.ofSeconds(2)).check();
        assertThat(r.ready()).isFalse();
        assertThat(r.failures()).containsExactly(java.util.Map.entry("store", "db gone"));
        assertThat(r.checks()).containsEntry("store", "failed").containsEntry("driver", "ok");
    }

    @Test
    void aHungCheckFailsAtTheDeadlineAndIsNotStartedAgainWhileStuck() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        int[] starts = {0};
        var readiness = new Readiness(List.of(new Readiness.Check("store", () -> {
            synchronized (starts) {
                starts[0]++;
            }
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        })), Duration.ofMillis(200));
        try {
            var first = readiness.check();
            assertThat(first.ready()).isFalse();
            assertThat(first.failures().get("store")).startsWith("no answer within 200 ms");
            var second = readiness.check();
            assertThat(second.failures().get("store")).startsWith("still running a probe started earlier");
            synchronized (starts) {
                assertThat(starts[0]).isEqualTo(1);
            }
        } finally {
            release.countDown();
        }
        // once the stuck probe returns, the next probe runs afresh and passes
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> readiness.check().ready());
    }
}
