package dev.burrow.driver.runc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.driver.DriverContext;
import dev.burrow.core.driver.DriverProvider;

class RuncDriverProviderTest {
    @TempDir
    Path tmp;

    @Test
    void the_runc_driver_is_found_by_name_through_the_service_loader() {
        assertThat(DriverProvider.named("runc")).isInstanceOf(RuncDriverProvider.class);
    }

    @Test
    void an_unknown_driver_name_is_refused_naming_the_drivers_there_are() {
        assertThatThrownBy(() -> DriverProvider.named("firecracker"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("firecracker").hasMessageContaining("runc");
    }

    @Test
    void options_become_the_drivers_settings_and_a_picked_vm_subnet_is_kept() {
        var context = new DriverContext(tmp, tmp.resolve("images"), "node1", Map.of("storage", "overlay",
                "btrfs-image-size-mb", "2048", "network", "on", "vm-dns", "192.0.2.53", "vm-allow-private", "10.9.0.0/16",
                "vm-pids-max", "300", "node-pids-max", "9000"));
        RuncDriverConfig config = RuncDriverProvider.config(context);
        assertThat(config.storage()).isEqualTo(RuncDriverConfig.Storage.OVERLAY);
        assertThat(config.btrfsImageSizeMb()).isEqualTo(2048);
        assertThat(config.pidsLimit()).isEqualTo(300);
        assertThat(config.nodePidsLimit()).isEqualTo(9000);
        assertThat(config.dataDir()).isEqualTo(tmp.resolve("runc"));
        assertThat(config.network().dnsUpstreams()).hasSize(1);
        assertThat(config.network().allowPrivate()).hasSize(1);
        // the range picked on the first start is the node's from then on
        assertThat(RuncDriverProvider.config(context).network().subnet()).isEqualTo(config.network().subnet());
        assertThat(new RuncDriverProvider().hostPaths(context)).containsExactly(config.runcRoot());
    }

    @Test
    void without_the_network_option_vms_get_loopback_only() {
        var context = new DriverContext(tmp, tmp.resolve("images"), "node1", Map.of());
        assertThat(RuncDriverProvider.config(context).network()).isNull();
        assertThat(RuncDriverProvider.config(context).storage()).isEqualTo(RuncDriverConfig.Storage.AUTO);
    }
}
