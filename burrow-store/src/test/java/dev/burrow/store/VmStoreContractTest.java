package dev.burrow.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.burrow.core.store.Stores;
import dev.burrow.core.testing.VmStoreContract;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;

/**
 * {@link VmStoreContract} on a database (subclasses provide the URL), plus what only the SQL store has: its schema and
 * rows written by older migrations.
 */
abstract class VmStoreContractTest extends VmStoreContract {
    Database db;
    SqlVmStore sqlStore;

    abstract String jdbcUrl() throws Exception;

    @Override
    protected Stores openStores() throws Exception {
        db = Database.open(jdbcUrl(), null, null);
        sqlStore = new SqlVmStore(db);
        return new Stores(sqlStore, sqlStore, sqlStore, new SqlIdentityStore(db), new SqlDomainStore(db),
                new SqlNodeStore(db));
    }

    @Override
    protected void closeStores() {
        db.close();
    }

    @Test
    void aSnapshotRowWrittenBeforeV7ReadsAsPersistentAndUnused() throws Exception {
        Vm source = newVm(Map.of());
        String id = dev.burrow.core.vm.Snapshot.generateId();
        long at = Instant.now().truncatedTo(ChronoUnit.MILLIS).toEpochMilli();
        // the columns V3 had: what a row made before the V7 migration holds
        String spec = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(source.spec());
        db.jdbi().useHandle(h -> h.createUpdate("""
                INSERT INTO snapshots (id, name, source_vm_id, image, source_spec, created_at)
                VALUES (:id, 'old', :src, 'builtin:busybox', :spec, :at)
                """).bind("id", id).bind("src", source.id()).bind("spec", spec).bind("at", at).execute());
        var got = sqlStore.findSnapshot(id).orElseThrow();
        assertThat(got.persistence().type()).isEqualTo(dev.burrow.core.vm.Persistence.Type.PERSISTENT);
        assertThat(got.lastUsedAt()).isEqualTo(Instant.ofEpochMilli(at));
        assertThat(got.failed()).isFalse();
        assertThat(got.templateHash()).isNull();
        assertThat(got.user()).isNull();
        assertThat(got.sourceSpec()).isEqualTo(source.spec());
    }

    @Test
    void schemaStatusConstraintMatchesTheEnum() {
        String sql = sqlStore.schemaSql();
        for (VmStatus s : VmStatus.values()) assertThat(sql).contains("'" + s.dbName() + "'");
        var m = java.util.regex.Pattern.compile("'([a-z]+)'").matcher(sql);
        List<String> named = new ArrayList<>();
        while (m.find()) named.add(m.group(1));
        assertThat(named).containsExactlyInAnyOrderElementsOf(
                java.util.Arrays.stream(VmStatus.values()).map(VmStatus::dbName).toList());
    }
}
