package dev.burrow.core.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

import dev.burrow.core.driver.ExecRequest;
import dev.burrow.core.driver.FileContent;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.testing.FakeDriver;
import dev.burrow.core.testing.InMemoryVmStore;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmEvent;
import dev.burrow.core.vm.VmId;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;

class LifecycleCoordinatorTest {
    final FakeDriver driver = new FakeDriver();
    final InMemoryVmStore store = new InMemoryVmStore();
    final dev.burrow.core.testing.InMemorySnapshotStore snapshots = new dev.burrow.core.testing.InMemorySnapshotStore();
    final LifecycleCoordinator lc = new LifecycleCoordinator(store, snapshots, driver,
            new dev.burrow.core.image.ImageCache(driver, Clock.systemUTC()), Clock.systemUTC(), "node1",
            LifecycleCoordinator.Settings.defaults("img"));

    Vm create() {
        return lc.create(new CreateVmCommand(new VmSpec(null, 1, 256, Map.of(), null, null, null, Map.of(), null, null),
                Map.of("/etc/motd", new CreateVmCommand.InitialFile("hi".getBytes(), false))), "test");
    }

    @Test
    void createWritesIntentThenOutcomeAndUsesDefaultImage() {
        Vm vm = create();
        assertThat(VmId.valid(vm.id())).isTrue();
        assertThat(vm.status()).isEqualTo(VmStatus.RUNNING);
        assertThat(vm.spec().image()).isEqualTo("img");
        assertThat(vm.driverHandle()).isEqualTo("fake-" + vm.id());
        assertThat(store.events(vm.id(), 10)).extracting(VmEvent::to)
                .containsExactly(VmStatus.CREATING, VmStatus.RUNNING);
        assertThat(((FileContent.RegularFile) lc.readFile(vm.id(), "/etc/motd", 100)).bytes()).isEqualTo("hi".getBytes());
    }

    @Test
    void failedCreateDestroysWhatTheDriverMadeAndLeavesATombstone() {
        driver.failNext("write");
        assertThatThrownBy(this::create).hasMessageContaining("injected failure");
        assertThat(driver.sandboxes).isEmpty();
        Vm vm = store.list(new dev.burrow.core.store.VmQuery(true, Map.of(), 0, 0)).get(0);
        assertThat(vm.status()).isEqualTo(VmStatus.DELETED);
        assertThat(vm.statusReason()).contains("create failed");
    }

    @Test
    void badImageFailsBeforeAnyRowExists() {
        assertThatThrownBy(() -> lc.create(new CreateVmCommand(new VmSpec("bad:x", 1, 256, null, null, null, null, null, null, null),
                null), "test")).isInstanceOf(BurrowException.class);
        assertThat(store.list(new dev.burrow.core.store.VmQuery(true, Map.of(), 0, 0))).isEmpty();
    }

    Vm createOf(String image) {
        return lc.create(new CreateVmCommand(new VmSpec(image, 1, 256, Map.of(), null, null, null, Map.of(), null, null),
                Map.of()), "test");
    }

    @Test
    void anImageNotCachedIsPulledWhileTheVmIsVisibleAsPulling() throws Exception {
        var pool = Executors.newFixedThreadPool(2);
        try {
            Future<Vm> a = pool.submit(() -> createOf("pull-wait:1"));
            Future<Vm> b = pool.submit(() -> createOf("pull-wait:1"));
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (store.list(new dev.burrow.core.store.VmQuery(false, Map.of(), 0, 0)).size() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            List<Vm> pulling = store.list(new dev.burrow.core.store.VmQuery(false, Map.of(), 0, 0));
            assertThat(pulling).extracting(Vm::status).containsOnly(VmStatus.PULLING).hasSize(2);
            assertThat(lc.pullOf(pulling.get(0))).isPresent();
            // in flight in this process: the reconciler leaves them alone
            assertThat(lc.reconcile(pulling.get(0).id(), "test")).isEqualTo(LifecycleCoordinator.ReconcileAction.BUSY);
            driver.pullGate.countDown();
            assertThat(a.get().status()).isEqualTo(VmStatus.RUNNING);
            assertThat(b.get().status()).isEqualTo(VmStatus.RUNNING);
            // two creates, one pull
            assertThat(driver.calls.stream().filter(c -> c.equals("prepare:pull-wait:1")).count()).isEqualTo(1);
            assertThat(store.events(a.get().id(), 10)).extracting(VmEvent::to)
                    .containsExactly(VmStatus.PULLING, VmStatus.CREATING, VmStatus.RUNNING);
        } finally {
            driver.pullGate.countDown();
            pool.shutdownNow();
        }
    }

    @Test
    void aFailedPullLeavesADeletedTombstoneAndNothingOnTheHost() {
        assertThatThrownBy(() -> createOf("pull-missing:1"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("IMAGE_NOT_FOUND"));
        Vm vm = store.list(new dev.burrow.core.store.VmQuery(true, Map.of(), 0, 0)).get(0);
        assertThat(vm.status()).isEqualTo(VmStatus.DELETED);
        assertThat(vm.statusReason()).contains("pulling image pull-missing:1 failed");
        assertThat(driver.sandboxes).isEmpty();
    }

    @Test
    void aPullingRowLeftByACrashIsRolledBack() {
        java.time.Instant now = java.time.Instant.now();
        String id = VmId.generate();
        Vm vm = new Vm(id, new VmSpec("pull:1", 1, 256, Map.of(), null, null, null, Map.of(), null, null),
                VmStatus.PULLING, null, now, now, now, "node1", "fake", null, 0);
        store.insert(vm, VmEvent.of(id, now, null, VmStatus.PULLING, "create", "test", "pull:1", null));
        assertThat(lc.reconcile(id, "reconciler")).isEqualTo(LifecycleCoordinator.ReconcileAction.ROLLED_BACK_CREATE);
        assertThat(store.find(id).orElseThrow().status()).isEqualTo(VmStatus.DELETED);
    }

    @Test
    void fullLifecycleFollowsTheTable() {
        Vm vm = create();
        assertThat(lc.suspend(vm.id(), "test").status()).isEqualTo(VmStatus.SUSPENDED);
        assertThat(lc.suspend(vm.id(), "test").status()).isEqualTo(VmStatus.SUSPENDED); // idempotent
        assertThat(lc.start(vm.id(), "test").status()).isEqualTo(VmStatus.RUNNING);
        assertThat(lc.stop(vm.id(), "test").status()).isEqualTo(VmStatus.STOPPED);
        assertThatThrownBy(() -> lc.suspend(vm.id(), "test"))
                .isInstanceOfSatisfying(BurrowException.class, e -> {
                    assertThat(e.code()).isEqualTo("INVALID_STATE_TRANSITION");
                    assertThat(e.getMessage()).contains("stopped");
                });
        assertThatThrownBy(() -> lc.exec(vm.id(), ExecRequest.of("true", null), "test"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_RUNNING"));
        assertThat(lc.start(vm.id(), "test").status()).isEqualTo(VmStatus.RUNNING);
        assertThat(lc.kill(vm.id(), "test").status()).isEqualTo(VmStatus.STOPPED);
        assertThat(lc.delete(vm.id(), "test").status()).isEqualTo(VmStatus.DELETED);
        assertThatThrownBy(() -> lc.get(vm.id()))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("VM_NOT_FOUND"));
        // every recorded move is allowed by the table
        for (VmEvent e : store.events(vm.id(), 100)) {
            if (e.from() != null && e.from() != e.to()) assertThat(e.from().canMoveTo(e.to())).as(e.toString()).isTrue();
        }
    }

    @Test
    void execOnSuspendedVmResumesItFirst() {
        Vm vm = create();
        lc.suspend(vm.id(), "test");
        assertThat(lc.exec(vm.id(), ExecRequest.of("echo", null), "test").stdout()).isEqualTo("echo");
        assertThat(lc.get(vm.id()).status()).isEqualTo(VmStatus.RUNNING);
        assertThat(driver.calls).containsSubsequence("resume:" + vm.id(), "exec:" + vm.id());
    }

    @Test
    void failedDriverCallSettlesOnWhatTheHostHolds() {
        Vm vm = create();
        driver.failNext("suspend");
        assertThatThrownBy(() -> lc.suspend(vm.id(), "test")).hasMessageContaining("injected");
        Vm after = lc.get(vm.id());
        assertThat(after.status()).isEqualTo(VmStatus.RUNNING); // the fake never paused
        assertThat(after.statusReason()).contains("suspend failed");
    }

    @Test
    void failedDeleteLeavesAFailedVmThatCanBeDeletedAgain() {
        Vm vm = create();
        driver.failNext("destroy");
        assertThatThrownBy(() -> lc.delete(vm.id(), "test")).hasMessageContaining("injected");
        assertThat(lc.get(vm.id()).status()).isEqualTo(VmStatus.FAILED);
        assertThat(lc.delete(vm.id(), "test").status()).isEqualTo(VmStatus.DELETED);
    }

    @Test
    void invalidIdsAreRejectedBeforeTheStore() {
        assertThatThrownBy(() -> lc.get("../../etc"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("INVALID_VM_ID"));
    }

    @Test
    void concurrentTransitionsOnOneVmAreSerialized() throws Exception {
        Vm vm = create();
        var pool = Executors.newFixedThreadPool(8);
        List<Future<String>> results = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            int n = i;
            Callable<String> task = () -> {
                try {
                    return switch (n % 4) {
                        case 0 -> lc.suspend(vm.id(), "t").status().name();
                        case 1 -> lc.start(vm.id(), "t").status().name();
                        case 2 -> lc.stop(vm.id(), "t").status().name();
                        default -> lc.start(vm.id(), "t").status().name();
                    };
                } catch (BurrowException e) {
                    return e.code();
                }
            };
            results.add(pool.submit(task));
        }
        for (var f : results) {
            assertThat(f.get()).isIn("SUSPENDED", "RUNNING", "STOPPED", "INVALID_STATE_TRANSITION");
        }
        pool.shutdown();
        // the event log is a single consistent chain: each event starts where the previous ended
        List<VmEvent> events = store.events(vm.id(), 1000);
        for (int i = 1; i < events.size(); i++) {
            assertThat(events.get(i).from()).as("event %d", i).isEqualTo(events.get(i - 1).to());
        }
    }

    // ---- snapshots and fork ----

    @Test
    void aSnapshotInUseCannotBeDeletedAndForksRecordTheirSnapshot() {
        Vm source = create();
        var fork = lc.fork(source.id(), 2, "test");
        assertThat(fork.vms()).hasSize(2).allSatisfy(f -> {
            assertThat(f.status()).isEqualTo(VmStatus.RUNNING);
            assertThat(f.spec().snapshotId()).isEqualTo(fork.snapshot().id());
            assertThat(f.spec().image()).isEqualTo("img");
        });
        // the source's status is unchanged; its history shows the snapshot
        assertThat(lc.get(source.id()).status()).isEqualTo(VmStatus.RUNNING);
        assertThat(store.events(source.id(), 10)).extracting(VmEvent::op).contains("snapshot");
        String sid = fork.snapshot().id();
        lc.delete(fork.vms().get(0).id(), "test");
        assertThatThrownBy(() -> lc.deleteSnapshot(sid, "test"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SNAPSHOT_IN_USE"));
        assertThat(driver.snapshots).contains(sid);
        lc.delete(fork.vms().get(1).id(), "test");
        lc.deleteSnapshot(sid, "test");
        assertThat(driver.snapshots).doesNotContain(sid);
        assertThat(snapshots.findSnapshot(sid)).isEmpty();
    }

    @Test
    void aFailedForkCreateLeavesNoLiveForkButKeepsItsSnapshot() {
        Vm source = create();
        driver.failNext("create");
        assertThatThrownBy(() -> lc.fork(source.id(), 3, "test")).hasMessageContaining("injected failure");
        assertThat(lc.list(dev.burrow.core.store.VmQuery.all())).extracting(Vm::id).containsExactly(source.id());
        assertThat(lc.listSnapshots()).hasSize(1);
        assertThat(driver.snapshots).hasSize(1);
    }

    @Test
    void theReconcilerDeletesDriverSnapshotsWithoutARowOnly() {
        Vm source = create();
        String kept = lc.snapshot(source.id(), "kept", "test").id();
        String orphan = dev.burrow.core.vm.Snapshot.generateId();
        driver.snapshots.add(orphan); // as a crash between the driver call and the row leaves it
        var reconciler = new dev.burrow.core.loop.Reconciler(store, lc, java.time.Duration.ofSeconds(15),
                java.time.Duration.ofMinutes(1), dev.burrow.core.loop.Reconciler.ActionListener.NONE);
        reconciler.runOnce(java.time.Instant.now());
        assertThat(driver.snapshots).containsExactly(kept);
        assertThat(lc.listSnapshots()).extracting(dev.burrow.core.vm.Snapshot::id).containsExactly(kept);
    }

    @Test
    void createFromAnUnknownSnapshotLeavesNoRow() {
        assertThatThrownBy(() -> lc.create(new CreateVmCommand(new VmSpec(null, 1, 256, null, null, null, null, null, null,
                dev.burrow.core.vm.Snapshot.generateId()), null), "test"))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("SNAPSHOT_NOT_FOUND"));
        assertThat(store.list(new dev.burrow.core.store.VmQuery(true, Map.of(), 0, 0))).isEmpty();
    }

    CreateVmCommand everyStep() {
        return new CreateVmCommand(new VmSpec(null, 1, 256, Map.of(), null, null, null, Map.of(), null, null),
                Map.of("/etc/motd", new CreateVmCommand.InitialFile("hi".getBytes(), false)), List.of(),
                List.of(new CreateVmCommand.Repo("https://example.com/r.git", "/src", null)), List.of("true # accounts"),
                List.of("curl"), java.time.Duration.ofSeconds(5), List.of(new CreateVmCommand.Domain("a.example.com", 443)));
    }

    /** Records the pipeline's port calls and whether the clones were removed. */
    final List<String> steps = java.util.Collections.synchronizedList(new ArrayList<>());
    final java.util.concurrent.atomic.AtomicBoolean clonesClosed = new java.util.concurrent.atomic.AtomicBoolean();

    void recordSteps() {
        lc.setRepoCloner((repos, netns) -> {
            steps.add("clones");
            return new RepoCloner.Clones() {
                @Override public List<CreateVmCommand.TreeCopy> trees() { return List.of(); }

                @Override public void close() { clonesClosed.set(true); }
            };
        });
        lc.setBootHook((vm, exec) -> steps.add("services"));
        lc.setDomainAttacher((vmId, domains) -> steps.add("domains " + domains.get(0).domain()));
    }

    @Test
    void createRunsEveryStepInPipelineOrder() {
        recordSteps();
        Vm vm = lc.create(everyStep(), "test");
        assertThat(vm.status()).isEqualTo(VmStatus.RUNNING);
        // driver create, files, accounts, the apt check and install, then the ready wait's process
        assertThat(driver.calls).filteredOn(c -> c.endsWith(vm.id())).containsExactly("create:" + vm.id(), "write:" + vm.id(), "exec:" + vm.id(),
                "exec:" + vm.id(), "exec:" + vm.id(), "exec:" + vm.id());
        assertThat(steps).containsExactly("clones", "services", "domains a.example.com");
        assertThat(clonesClosed).isTrue();
    }

    @Test
    void aFailedStepRollsTheCreateBackAndStillRemovesTheClones() {
        recordSteps();
        driver.failNext("exec");
        assertThatThrownBy(() -> lc.create(everyStep(), "test")).hasMessageContaining("injected failure");
        assertThat(driver.sandboxes).isEmpty();
        assertThat(steps).containsExactly("clones");
        assertThat(clonesClosed).isTrue();
        Vm vm = store.list(new dev.burrow.core.store.VmQuery(true, Map.of(), 0, 0)).get(0);
        assertThat(vm.status()).isEqualTo(VmStatus.DELETED);
    }

    @Test
    void packageNamesThatAreNotDebianNamesAreRefusedBeforeAnythingExists() {
        assertThatThrownBy(() -> new CreateVmCommand(new VmSpec(null, 1, 256, null, null, null, null, null, null, null),
                Map.of(), List.of(), List.of(), List.of(), List.of("curl; rm -rf /"), null, List.of()))
                .isInstanceOf(BurrowException.class).hasMessageContaining("aptDeps[0] must be a Debian package name");
    }
}
