package dev.burrow.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.domain.DomainMapping;
import dev.burrow.core.store.DomainStore;

/**
 * The DomainStore contract for every implementation (the SQL store on each database, the in-memory one of the HTTP test
 * harness); subclasses open a fresh, empty store for each test.
 */
public abstract class DomainStoreContract {
    protected static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    protected DomainStore store;

    /** A fresh, empty store for one test. */
    protected abstract DomainStore openStore() throws Exception;

    /** Releases what {@link #openStore} opened. */
    protected void closeStore() { }

    @BeforeEach
    void openContractStore() throws Exception {
        store = openStore();
    }

    @AfterEach
    void closeContractStore() {
        closeStore();
    }

    protected static DomainMapping mapping(String domain, String vm, int port, int secondsAfterT0) {
        return new DomainMapping(UUID.randomUUID().toString(), domain, vm, port, T0.plusSeconds(secondsAfterT0));
    }

    @Test
    public void aMappingRoundTripsAndItsDomainBelongsToOneVmOnly() {
        DomainMapping a = mapping("app.example.com", "vm-a", 8080, 1);
        assertThat(store.insertMapping(a)).isTrue();
        assertThat(store.findMapping("app.example.com")).contains(a);
        assertThat(store.insertMapping(mapping("app.example.com", "vm-b", 80, 2))).isFalse();
        assertThat(store.insertMapping(mapping("app.example.com", "vm-a", 80, 2))).isFalse();
        assertThat(store.findMapping("app.example.com")).contains(a);
        assertThat(store.findMapping("other.example.com")).isEmpty();
    }

    @Test
    public void onlyTheOwningVmChangesAMappingsPort() {
        store.insertMapping(mapping("app.example.com", "vm-a", 8080, 1));
        assertThat(store.updateMappingPort("app.example.com", "vm-b", 9)).isFalse();
        assertThat(store.findMapping("app.example.com").orElseThrow().vmPort()).isEqualTo(8080);
        assertThat(store.updateMappingPort("app.example.com", "vm-a", 3000)).isTrue();
        assertThat(store.findMapping("app.example.com").orElseThrow().vmPort()).isEqualTo(3000);
        assertThat(store.updateMappingPort("nope.example.com", "vm-a", 3000)).isFalse();
    }

    @Test
    public void listIsOldestFirstWithOffsetsAndADomainFilterAndVmDeletionRemovesOnlyItsRows() {
        DomainMapping b = mapping("b.example.com", "vm-a", 80, 2);
        DomainMapping a = mapping("a.example.com", "vm-a", 80, 1);
        DomainMapping c = mapping("c.example.com", "vm-b", 443, 3);
        store.insertMapping(b);
        store.insertMapping(a);
        store.insertMapping(c);
        assertThat(store.listMappings(null, 10, 0)).containsExactly(a, b, c);
        assertThat(store.listMappings(null, 1, 1)).containsExactly(b);
        assertThat(store.listMappings("c.example.com", 10, 0)).containsExactly(c);
        assertThat(store.mappingsForVm("vm-a")).containsExactly(a, b);
        assertThat(store.deleteMappingsForVm("vm-a")).isEqualTo(2);
        assertThat(store.listMappings(null, 10, 0)).containsExactly(c);
        assertThat(store.deleteMapping("c.example.com")).isTrue();
        assertThat(store.deleteMapping("c.example.com")).isFalse();
        assertThat(store.listMappings(null, 10, 0)).isEmpty();
    }

    @Test
    public void concurrentMappingsOfOneDomainHaveExactlyOneWinner() throws Exception {
        try (var pool = Executors.newFixedThreadPool(8)) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                String vm = "vm-" + i;
                results.add(pool.submit(() -> store.insertMapping(mapping("race.example.com", vm, 80, 0))));
            }
            int winners = 0;
            for (var f : results) if (f.get()) winners++;
            assertThat(winners).isEqualTo(1);
        }
        assertThat(store.listMappings("race.example.com", 10, 0)).hasSize(1);
    }
}
