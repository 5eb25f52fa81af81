package dev.burrow.server.logging;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

import dev.burrow.core.lifecycle.TransitionListener;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmStatus;
import dev.burrow.server.metrics.VmType;

/**
 * One log line per committed status write, as SLF4J key-values ({@code vm_id}, {@code type}, {@code op},
 * {@code from}, {@code to}, {@code cause}, {@code duration_ms}, {@code reason}): the JSON log format turns
 * them into fields a log store can index, the text format prints them as {@code key="value"}.
 *
 * <p>The coordinator logs a text line of its own for the same event, without the VM's type; the logback
 * configurations set its logger to WARN, so each transition is logged once, here (its warnings and errors
 * still show).
 */
public final class TransitionLog implements TransitionListener {
    public static final String LOGGER = "dev.burrow.transitions";
    private final Logger log;

    public TransitionLog() {
        this(LoggerFactory.getLogger(LOGGER));
    }

    TransitionLog(Logger log) {
        this.log = log;
    }

    @Override
    public void transitioned(Vm vm, VmStatus from, String op, String cause, Long durationMs, String reason) {
        boolean failed = vm.status() == VmStatus.FAILED || reason != null;
        LoggingEventBuilder e = (failed ? log.atWarn() : log.atInfo())
                .addKeyValue("vm_id", vm.id())
                .addKeyValue("type", VmType.of(vm))
                .addKeyValue("op", op)
                .addKeyValue("from", from == null ? "none" : from.dbName())
                .addKeyValue("to", vm.status().dbName())
                .addKeyValue("cause", cause);
        if (durationMs != null) e = e.addKeyValue("duration_ms", durationMs);
        if (reason != null) e = e.addKeyValue("reason", reason);
        // The facts are all in the key-values; the message stays constant so log queries can match on it.
        e.log("vm transition");
    }
}
