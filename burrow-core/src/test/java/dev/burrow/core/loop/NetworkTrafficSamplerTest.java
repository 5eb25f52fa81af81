package dev.burrow.core.loop;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.burrow.core.testing.FakeDriver;
import dev.burrow.core.testing.InMemoryVmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

class NetworkTrafficSamplerTest {
    static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    final InMemoryVmStore store = new InMemoryVmStore();
    final FakeDriver driver = new FakeDriver();
    final NetworkTrafficSampler sampler = new NetworkTrafficSampler(store, driver::networkBytes, Duration.ofSeconds(5), 4096);

    Vm vm(VmStatus status) {
        return vm(status, "n1");
    }

    Vm vm(VmStatus status, String node) {
        Vm vm = new Vm(VmId.generate(), new VmSpec("builtin:busybox", 1, 256, Map.of(), null, null, null, Map.of(), null, null),
                status, null, T0, T0, T0, node, "fake", null, 0);
        store.insert(vm, VmEvent.of(vm.id(), T0, null, status, "create", "test", null, null));
        return vm;
    }

    Vm find(Vm vm) {
        return store.find(vm.id()).orElseThrow();
    }

    @Test
    void aSamplerForOneNodeLeavesAnotherNodesVmsAlone() {
        var local = vm(VmStatus.RUNNING, "n1");
        var remote = vm(VmStatus.RUNNING, "n2");
        var n1 = new NetworkTrafficSampler(store, driver::networkBytes, Duration.ofSeconds(5), 4096, "n1");
        driver.networkBytes.put(local.id(), 0L);
        driver.networkBytes.put(remote.id(), 0L);
        n1.runOnce(T0.plusSeconds(5));
        driver.networkBytes.put(local.id(), 10_000L);
        driver.networkBytes.put(remote.id(), 10_000L);
        n1.runOnce(T0.plusSeconds(10));
        assertThat(find(local).lastNetworkActivityAt()).isEqualTo(T0.plusSeconds(10));
        assertThat(find(remote).lastNetworkActivityAt()).as("another node's VM: not this host's interface").isNull();
    }

    @Test
    void onlyTrafficAboveTheThresholdSinceTheLastReadingCounts() {
        Vm vm = vm(VmStatus.RUNNING);
        driver.networkBytes.put(vm.id(), 1_000_000L);
        sampler.runOnce(T0.plusSeconds(5));
        assertThat(find(vm).lastNetworkActivityAt()).as("the first reading is a baseline").isNull();
        driver.networkBytes.put(vm.id(), 1_000_000L + 4095);
        sampler.runOnce(T0.plusSeconds(10));
        assertThat(find(vm).lastNetworkActivityAt()).as("chatter below the threshold").isNull();
        driver.networkBytes.put(vm.id(), 1_000_000L + 4095 + 4096);
        sampler.runOnce(T0.plusSeconds(15));
        assertThat(find(vm).lastNetworkActivityAt()).isEqualTo(T0.plusSeconds(15));
        assertThat(find(vm).lastActivityAt()).as("it counts for idle suspend").isEqualTo(T0.plusSeconds(15));
        // a recreated interface starts at 0 again: a new baseline, not traffic
        driver.networkBytes.put(vm.id(), 10L);
        sampler.runOnce(T0.plusSeconds(20));
        assertThat(find(vm).lastNetworkActivityAt()).isEqualTo(T0.plusSeconds(15));
        driver.networkBytes.put(vm.id(), 10L + 10_000);
        sampler.runOnce(T0.plusSeconds(25));
        assertThat(find(vm).lastNetworkActivityAt()).isEqualTo(T0.plusSeconds(25));
    }

    @Test
    void vmsThatAreNotRunningOrHaveNoNetworkAreSkipped() {
        Vm suspended = vm(VmStatus.SUSPENDED);
        Vm noNet = vm(VmStatus.RUNNING);
        driver.networkBytes.put(suspended.id(), 0L);
        sampler.runOnce(T0.plusSeconds(5));
        driver.networkBytes.put(suspended.id(), 1_000_000L);
        sampler.runOnce(T0.plusSeconds(10));
        assertThat(find(suspended).lastNetworkActivityAt()).isNull();
        assertThat(find(noNet).lastNetworkActivityAt()).isNull();
    }
}
