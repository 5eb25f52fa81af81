package dev.burrow.driver.runc.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class MountTableTest {
    private static final String SAMPLE = """
            22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
            30 22 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
            31 22 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            40 22 0:50 / /data/vms/abc/rootfs rw,relatime - overlay burrow-abc rw,lowerdir=/i,upperdir=/u,workdir=/w
            41 22 0:51 / /data/vms/with\\040space rw - tmpfs tmpfs rw
            42 22 0:52 / /data/vms-other rw - tmpfs tmpfs rw
            43 22 0:53 / /data/gone\\040(deleted) rw - tmpfs tmpfs rw
            """;

    @Test
    void parsesFieldsAfterTheOptionalFieldSeparatorAndUnescapesPaths() {
        MountTable t = MountTable.parse(SAMPLE);
        assertThat(t.mounts()).hasSize(7);
        assertThat(t.mounts().get(3)).isEqualTo(new MountTable.Mount(Path.of("/data/vms/abc/rootfs"), "overlay", "burrow-abc"));
        assertThat(t.mounts().get(4).mountPoint()).isEqualTo(Path.of("/data/vms/with space"));
        assertThat(t.isMountPoint(Path.of("/data/gone"))).as("a deleted mount point still counts").isTrue();
    }

    @Test
    void underMatchesWholeComponentsOnly() {
        MountTable t = MountTable.parse(SAMPLE);
        assertThat(t.under(Path.of("/data/vms"))).extracting(MountTable.Mount::mountPoint)
                .containsExactly(Path.of("/data/vms/abc/rootfs"), Path.of("/data/vms/with space"));
        assertThat(t.under(Path.of("/data/vms/abc/rootfs"))).hasSize(1);
        assertThat(t.isMountPoint(Path.of("/data/vms/abc"))).isFalse();
        assertThat(t.cgroupHierarchies()).containsExactly(Path.of("/sys/fs/cgroup/memory"), Path.of("/sys/fs/cgroup/unified"));
    }

    @Test
    void readsTheLiveTable() {
        assertThat(MountTable.read().isMountPoint(Path.of("/"))).isTrue();
    }
}
