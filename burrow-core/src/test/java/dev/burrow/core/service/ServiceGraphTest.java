package dev.burrow.core.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.burrow.core.error.BurrowException;
import dev.burrow.core.vm.ServiceSpec;

/** Dependency handling of services: what starts together, what stops together, what is refused. */
class ServiceGraphTest {
    static ServiceSpec svc(String name, List<String> after, List<String> requires) {
        return new ServiceSpec(name, ServiceSpec.Mode.SERVICE, List.of("true"), Map.of(), null, null, null, after, requires,
                List.of(), true, 0, true, false, null, false, 0);
    }

    @Test
    void startingAServiceStartsWhatItRequiresTransitively() {
        var all = List.of(svc("app", List.of(), List.of("db")), svc("db", List.of(), List.of("disk")),
                svc("disk", List.of(), List.of()), svc("other", List.of(), List.of()));
        assertThat(ServiceManager.closure(all, List.of("app"))).containsExactly("app", "db", "disk");
        assertThat(ServiceManager.closure(all, List.of("other"))).containsExactly("other");
    }

    @Test
    void stoppingAServiceStopsWhatRequiresItTransitively() {
        var all = List.of(svc("app", List.of(), List.of("db")), svc("db", List.of(), List.of("disk")),
                svc("disk", List.of(), List.of()), svc("other", List.of(), List.of()));
        assertThat(ServiceManager.dependents(all, List.of("disk"))).containsExactlyInAnyOrder("disk", "db", "app");
        assertThat(ServiceManager.dependents(all, List.of("app"))).containsExactly("app");
    }

    @Test
    void orderingCyclesAndUnknownRequirementsAreRefused() {
        assertThatThrownBy(() -> ServiceManager.validateGraph(List.of(svc("a", List.of("b"), List.of()),
                svc("b", List.of("c"), List.of()), svc("c", List.of("a"), List.of()))))
                .isInstanceOf(BurrowException.class).hasMessageContaining("cycle").hasMessageContaining("a -> b -> c -> a");
        assertThatThrownBy(() -> ServiceManager.validateGraph(List.of(svc("a", List.of(), List.of("ghost")))))
                .isInstanceOf(BurrowException.class).hasMessageContaining("ghost");
        // ordering on a service that does not exist is no ordering (systemd ignores it too); requires alone is no cycle
        ServiceManager.validateGraph(List.of(svc("a", List.of("ghost"), List.of("b")), svc("b", List.of(), List.of("a"))));
    }

    @Test
    void unitNamesAreServiceNames() {
        assertThat(ServiceManager.normalize("web.service")).isEqualTo("web");
        assertThat(ServiceManager.normalize("web")).isEqualTo("web");
    }
}
