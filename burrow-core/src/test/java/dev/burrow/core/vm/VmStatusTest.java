package dev.burrow.core.vm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class VmStatusTest {
    @Test
    void everyStatusHasARowAndDeletedIsTerminal() {
        for (VmStatus s : VmStatus.values()) assertThat(VmStatus.TRANSITIONS).containsKey(s);
        assertThat(VmStatus.TRANSITIONS.get(VmStatus.DELETED)).isEmpty();
    }

    @Test
    void everyStatusButDeletedCanReachDeleted() {
        for (VmStatus s : VmStatus.values()) {
            if (s == VmStatus.DELETED) continue;
            assertThat(reaches(s, VmStatus.DELETED, new java.util.HashSet<>())).as(s.name()).isTrue();
        }
    }

    @Test
    void everyIntentCanSettleOnAStableStatus() {
        for (VmStatus s : VmStatus.values()) {
            if (!s.transitional()) continue;
            assertThat(VmStatus.TRANSITIONS.get(s)).as(s.name()).anyMatch(t -> !t.transitional());
        }
    }

    @Test
    void idsHaveTheFreestyleShape() {
        for (int i = 0; i < 100; i++) assertThat(VmId.generate()).matches("[a-z0-9]{20}");
        assertThat(VmId.valid("ABCDEFGHIJKLMNOPQRST")).isFalse();
        assertThat(VmId.valid("abc")).isFalse();
    }

    private static boolean reaches(VmStatus from, VmStatus to, java.util.Set<VmStatus> seen) {
        if (from == to) return true;
        if (!seen.add(from)) return false;
        return VmStatus.TRANSITIONS.get(from).stream().anyMatch(n -> reaches(n, to, seen));
    }
}
