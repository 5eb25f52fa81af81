package dev.burrow.server.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.status.Status;
import org.slf4j.Logger;
import ch.qos.logback.classic.joran.JoranConfigurator;
import dev.burrow.core.vm.Vm;
import dev.burrow.core.vm.VmSpec;
import dev.burrow.core.vm.VmStatus;
import dev.burrow.server.http.Json;

/**
 * The shipped logback configurations, loaded as the server loads them: {@code --log-format json} gives one JSON
 * object per line with the transition's key-values as fields; the text format prints them readably; the
 * coordinator's own transition line is silenced so each transition is logged once.
 */
@SuppressWarnings("unchecked")
class TransitionLogTest {
    private static final Vm VM = new Vm("abcdefghij0123456789",
            new VmSpec("builtin:busybox", 1, 256, Map.of(), null, null, null, Map.of("type", "workspace"), null, null),
            VmStatus.FAILED, "start failed: boom", Instant.EPOCH, Instant.EPOCH, Instant.EPOCH, "n1", "runc", null, 3);

    @Test
    void jsonFormatCarriesTransitionKeyValuesAsFields() throws Exception {
        String out = logWith("logback-json.xml");
        List<String> lines = out.lines().filter(l -> !l.isBlank()).toList();
        assertThat(lines).hasSize(1);
        JsonNode line = Json.MAPPER.readTree(lines.get(0));
        assertThat(line.get("level").asText()).isEqualTo("WARN");
        assertThat(line.get("loggerName").asText()).isEqualTo(TransitionLog.LOGGER);
        Map<String, String> kv = new HashMap<>();
        for (JsonNode pair : line.get("kvpList")) pair.fields().forEachRemaining(e -> kv.put(e.getKey(), e.getValue().asText()));
        assertThat(kv).containsEntry("vm_id", "abcdefghij0123456789").containsEntry("type", "workspace")
                .containsEntry("op", "start").containsEntry("from", "starting").containsEntry("to", "failed")
                .containsEntry("cause", "api").containsEntry("duration_ms", "42")
                .containsEntry("reason", "start failed: boom");
    }

    @Test
    void textFormatPrintsKeyValuesAfterTheMessage() throws Exception {
        String out = logWith("logback.xml");
        assertThat(out).contains("WARN").contains("vm transition").contains("vm_id=\"abcdefghij0123456789\"")
                .contains("type=\"workspace\"").contains("to=\"failed\"").contains("duration_ms=\"42\"");
        assertThat(out.lines().filter(l -> !l.isBlank()).count()).isEqualTo(1);
    }

    /** Configures a private logback context from a shipped file, logs one transition, returns what it wrote. */
    private static String logWith(String config) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        LoggerContext ctx = new LoggerContext();
        ctx.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter()); // a fresh context has none
        try {
            JoranConfigurator jc = new JoranConfigurator();
            jc.setContext(ctx);
            jc.doConfigure(TransitionLogTest.class.getResource("/" + config));
            assertThat(ctx.getStatusManager().getCopyOfStatusList()).noneMatch(st -> st.getLevel() >= Status.WARN);
            // The shipped console appender's encoder, writing into a buffer instead of the console.
            var console = (OutputStreamAppender<ILoggingEvent>) ctx.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("OUT");
            var out = new OutputStreamAppender<ILoggingEvent>();
            out.setContext(ctx);
            out.setEncoder(console.getEncoder());
            out.setOutputStream(buf);
            out.start();
            ctx.getLogger(Logger.ROOT_LOGGER_NAME).detachAppender(console);
            ctx.getLogger(Logger.ROOT_LOGGER_NAME).addAppender(out);
            assertThat(ctx.getLogger(TransitionLog.LOGGER).isInfoEnabled()).isTrue();
            new TransitionLog(ctx.getLogger(TransitionLog.LOGGER)).transitioned(VM, VmStatus.STARTING, "start", "api", 42L,
                    "start failed: boom");
            assertThat(ctx.getStatusManager().getCopyOfStatusList()).noneMatch(st -> st.getLevel() >= Status.WARN);
        } finally {
            ctx.stop();
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
