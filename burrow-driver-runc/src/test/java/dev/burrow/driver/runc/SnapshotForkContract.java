package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.HostResource;
import dev.burrow.core.driver.SandboxSpec;
import dev.burrow.core.driver.SandboxState;
import dev.burrow.core.error.BurrowException;

/**
 * Snapshots and forks (a snapshot plus creates from it) against real runc, run once per storage. Whatever the
 * storage, a fork sees the source's disk as it was at the snapshot, and nothing either side writes afterwards
 * reaches the other.
 */
abstract class SnapshotForkContract {
    protected RuncTestHost host;
    protected RuncDriver driver;

    abstract RuncDriverConfig.Storage storage();

    @BeforeEach
    void setUp() throws IOException {
        host = RuncTestHost.start(storage());
        driver = host.driver;
        assertThat(driver.storageName()).isEqualTo(storage().name().toLowerCase());
    }

    @AfterEach
    void tearDown() {
        if (host != null) host.close();
    }

    SandboxSpec fromSnapshot(String vmId, String snapshotId) {
        return new SandboxSpec(vmId, null, 1, 256, 0, Map.of(), null, null, null, snapshotId);
    }

    @Test
    void aForkSeesTheSnapshotAndNeitherSideSeesTheOthersLaterWrites() {
        assertThat(driver.capabilities().diskSnapshots()).isTrue();
        String source = RuncTestHost.newVmId();
        driver.create(host.spec(source));
        host.ok(source, "dd if=/dev/urandom of=/root/data bs=1M count=100 2>/dev/null && echo before > /root/marker"
                // an image file deleted (a whiteout) and an image directory replaced (an opaque directory)
                + " && rm /etc/shadow && rm -rf /usr/sbin && mkdir /usr/sbin && echo new > /usr/sbin/only");
        String sum = host.ok(source, "md5sum < /root/data");

        String snap = "snap-" + RuncTestHost.randomId(8);
        driver.snapshot(source, snap);
        driver.snapshot(source, snap); // idempotent
        assertThat(driver.state(source)).as("a running source keeps running").isEqualTo(SandboxState.RUNNING);
        assertThat(driver.list()).contains(new HostResource(HostResource.Kind.SNAPSHOT, snap, snapshotPath(snap)));
        host.ok(source, "echo after > /root/marker && echo later > /root/later");

        String fork = RuncTestHost.newVmId();
        driver.create(fromSnapshot(fork, snap));
        assertThat(host.ok(fork, "md5sum < /root/data")).isEqualTo(sum);
        assertThat(host.ok(fork, "cat /root/marker")).isEqualTo("before\n");
        assertThat(host.ok(fork, "ls /usr/sbin; test -e /etc/shadow || echo no-shadow; test -e /root/later || echo no-later"))
                .isEqualTo("only\nno-shadow\nno-later\n");
        assertThat(host.ok(fork, "echo $BURROW_TEST-$PATH")).as("image env from the snapshot, spec env from the create")
                .startsWith("-/usr/local/sbin");

        host.ok(fork, "echo fork > /root/marker && rm /root/data && echo forked > /etc/group");
        assertThat(host.ok(source, "cat /root/marker /etc/group; md5sum < /root/data"))
                .isEqualTo("after\nroot:x:0:\nnobody:x:65534:\n" + sum);

        // The snapshot outlives its source; a second fork still starts from the snapshot, not from the first fork.
        driver.destroy(source);
        assertThat(host.leftovers(source)).isEmpty();
        String second = RuncTestHost.newVmId();
        driver.create(fromSnapshot(second, snap));
        assertThat(host.ok(second, "cat /root/marker; md5sum < /root/data")).isEqualTo("before\n" + sum);

        // A fork is a VM like any other: stop, start after a reboot (remounting its layers) and destroy.
        driver.stop(fork, Duration.ofSeconds(5));
        driver.stop(second, Duration.ofSeconds(5));
        host.unmountAll();
        driver.start(fork);
        assertThat(host.ok(fork, "cat /root/marker /etc/group")).isEqualTo("fork\nforked\n");
        driver.destroy(fork);
        driver.destroy(second);
        assertThat(host.leftovers(fork)).isEmpty();
        assertThat(host.leftovers(second)).isEmpty();
    }

    @Test
    void suspendedAndStoppedVmsCanBeSnapshottedAndStayAsTheyWere() {
        String vm = RuncTestHost.newVmId();
        driver.create(host.spec(vm));
        host.ok(vm, "echo one > /root/v");
        driver.suspend(vm);
        driver.snapshot(vm, "paused-snap");
        assertThat(driver.state(vm)).isEqualTo(SandboxState.PAUSED);
        driver.resume(vm);
        host.ok(vm, "echo two > /root/v");
        driver.stop(vm, Duration.ofSeconds(5));
        driver.snapshot(vm, "stopped-snap");
        assertThat(driver.state(vm)).isEqualTo(SandboxState.STOPPED);

        String a = RuncTestHost.newVmId();
        String b = RuncTestHost.newVmId();
        driver.create(fromSnapshot(a, "paused-snap"));
        driver.create(fromSnapshot(b, "stopped-snap"));
        assertThat(host.ok(a, "cat /root/v")).isEqualTo("one\n");
        assertThat(host.ok(b, "cat /root/v")).isEqualTo("two\n");
    }

    @Test
    void deletingASnapshotKeepsTheVmsMadeFromItAndEndsWithNothingLeft() {
        String source = RuncTestHost.newVmId();
        driver.create(host.spec(source));
        host.ok(source, "echo gen1 > /root/gen");
        driver.snapshot(source, "gen1");
        String child = RuncTestHost.newVmId();
        driver.create(fromSnapshot(child, "gen1"));
        host.ok(child, "echo gen2 > /root/gen2");
        // A snapshot of a VM that itself came from a snapshot (with overlay: a layer stacked on a layer).
        driver.snapshot(child, "gen2");

        driver.deleteSnapshot("gen1");
        driver.deleteSnapshot("gen1");
        driver.deleteSnapshot("never-existed");
        assertThat(driver.list()).extracting(HostResource::vmId).doesNotContain("gen1").contains("gen2");
        assertThatThrownBy(() -> driver.create(fromSnapshot(RuncTestHost.newVmId(), "gen1")))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SNAPSHOT_NOT_FOUND"));

        // What was made from the deleted snapshot still has everything it needs, across a reboot.
        driver.stop(child, Duration.ofSeconds(5));
        driver.stop(source, Duration.ofSeconds(5));
        host.unmountAll();
        driver.start(child);
        assertThat(host.ok(child, "cat /root/gen /root/gen2")).isEqualTo("gen1\ngen2\n");
        String grandchild = RuncTestHost.newVmId();
        driver.create(fromSnapshot(grandchild, "gen2"));
        assertThat(host.ok(grandchild, "cat /root/gen /root/gen2")).isEqualTo("gen1\ngen2\n");

        for (String vm : List.of(source, child, grandchild)) driver.destroy(vm);
        driver.deleteSnapshot("gen2");
        for (String vm : List.of(source, child, grandchild)) assertThat(host.leftovers(vm)).isEmpty();
        assertThat(driver.list()).isEmpty();
        assertThat(leftoverSnapshotData()).isEmpty();
    }

    @Test
    void refusesWhatItCannotSnapshot() {
        String vm = RuncTestHost.newVmId();
        assertThatThrownBy(() -> driver.snapshot(vm, "s1"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_FOUND"));
        driver.create(host.spec(vm));
        for (String bad : new String[] {"../x", "", "a/b", "a:b", ".tmp-x"}) {
            assertThatThrownBy(() -> driver.snapshot(vm, bad))
                    .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_SNAPSHOT_ID"));
        }
        assertThatThrownBy(() -> driver.create(fromSnapshot(RuncTestHost.newVmId(), "missing")))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SNAPSHOT_NOT_FOUND"));
        assertThat(driver.list()).noneMatch(r -> r.kind() == HostResource.Kind.SNAPSHOT);
    }

    /**
     * Not an assertion (speed is measured, not tested): snapshot and fork of a VM with 100 MiB written, median
     * of 10 each. Tagged "bench", which the build excludes; run it with
     * {@code -Dgroups=bench -Dburrow.excludedGroups= -Dtest=*SnapshotForkTest}.
     */
    @Test
    @org.junit.jupiter.api.Tag("bench")
    void measureSnapshotAndFork() {
        String source = RuncTestHost.newVmId();
        driver.create(host.spec(source));
        host.ok(source, "dd if=/dev/urandom of=/root/data bs=1M count=100 2>/dev/null");
        long t0 = System.nanoTime();
        driver.snapshot(source, "bench-first");
        double first = (System.nanoTime() - t0) / 1e6;
        List<Double> snapshot = new ArrayList<>();
        List<Double> fork = new ArrayList<>();
        List<Double> forkCreate = new ArrayList<>();
        List<Double> destroy = new ArrayList<>();
        List<Double> plainCreate = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            String sid = "bench-" + i;
            t0 = System.nanoTime();
            driver.snapshot(source, sid);
            snapshot.add((System.nanoTime() - t0) / 1e6);
            String vm = RuncTestHost.newVmId();
            t0 = System.nanoTime();
            driver.create(fromSnapshot(vm, sid));
            forkCreate.add((System.nanoTime() - t0) / 1e6);
            // snapshot + create: what one fork of one VM costs at the driver
            fork.add(snapshot.get(i) + forkCreate.get(i));
            t0 = System.nanoTime();
            driver.destroy(vm);
            destroy.add((System.nanoTime() - t0) / 1e6);
            // the baseline: a create from the image, which starts the same container on a fresh root
            String plain = RuncTestHost.newVmId();
            t0 = System.nanoTime();
            driver.create(host.spec(plain));
            plainCreate.add((System.nanoTime() - t0) / 1e6);
            driver.destroy(plain);
        }
        System.out.printf("%nBENCH storage=%s (100 MiB written, n=10): first snapshot (data just written) %.1f ms;"
                        + " snapshot p50 %.1f max %.1f; create-from-snapshot (incl. container start) p50 %.1f max %.1f;"
                        + " fork = snapshot+create p50 %.1f; destroy of a fork p50 %.1f; create from the image p50 %.1f ms%n",
                driver.storageName(), first, median(snapshot), Collections.max(snapshot), median(forkCreate),
                Collections.max(forkCreate), median(fork), median(destroy), median(plainCreate));
    }

    static double median(List<Double> values) {
        List<Double> s = new ArrayList<>(values);
        Collections.sort(s);
        return s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
    }

    /** Where the storage keeps a snapshot (the name list() reports). */
    abstract String snapshotPath(String snapshotId);

    /** Snapshot data of this host's storage still on disk (must be none once every snapshot is deleted). */
    abstract List<String> leftoverSnapshotData();
}
