package dev.burrow.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.burrow.core.error.BurrowException;

/** The streamed files-API bodies decode and encode exactly what the buffered Jackson path did. */
class FileBodiesTest {
    @TempDir
    Path dir;

    private byte[] upload(String json, long max) throws Exception {
        Path spool = dir.resolve("body.json");
        Files.writeString(spool, json, StandardCharsets.UTF_8);
        var u = FileBodies.scan(spool);
        try (InputStream in = FileBodies.content(spool, u, max)) {
            return in.readAllBytes();
        }
    }

    @Test
    void base64ContentBeforeItsEncodingDecodesToTheBytes() throws Exception {
        byte[] bytes = {0, 1, 2, (byte) 254, (byte) 255, '"', '\\'};
        String b64 = Base64.getEncoder().encodeToString(bytes);
        assertThat(upload("{\"content\":\"" + b64 + "\",\"encoding\":\"base64\"}", 100)).isEqualTo(bytes);
        assertThat(upload("{\"encoding\":\"BASE64\",\"extra\":{\"a\":[1,2]},\"content\":\"" + b64 + "\"}", 100)).isEqualTo(bytes);
    }

    @Test
    void lineBrokenBase64IsAcceptedAsBefore() throws Exception {
        byte[] bytes = new byte[200];
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) i;
        String mime = Base64.getMimeEncoder().encodeToString(bytes).replace("\r\n", "\\r\\n");
        assertThat(upload("{\"content\":\"" + mime + "\",\"encoding\":\"base64\"}", 1000)).isEqualTo(bytes);
    }

    @Test
    void utf8ContentKeepsEveryEscapeAndCharacter() throws Exception {
        String text = "line\n\t\"quoted\" \\ / é ✓ 😀 end";
        String json = Json.MAPPER.writeValueAsString(Map.of("content", text));
        assertThat(new String(upload(json, 1000), StandardCharsets.UTF_8)).isEqualTo(text);
        // escaped forms of the same characters, and a lone surrogate as String.getBytes(UTF_8) gives it
        assertThat(upload("{\"content\":\"\\u00e9\\u2713\\ud83d\\ude00\\ud800x\",\"encoding\":\"utf8\"}", 1000))
                .isEqualTo("é✓😀?x".getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void malformedBodiesAreClientErrors() {
        assertThatThrownBy(() -> upload("{\"content\":\"@@@\",\"encoding\":\"base64\"}", 100))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.code()).isEqualTo("FILES_BAD_REQUEST"));
        assertThatThrownBy(() -> upload("{\"content\":\"x\",\"encoding\":\"rot13\"}", 100))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.getMessage()).contains("unknown encoding"));
        assertThatThrownBy(() -> upload("{\"encoding\":\"utf8\"}", 100))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.getMessage()).contains("'content' is required"));
        assertThatThrownBy(() -> upload("{\"content\":5}", 100))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.getMessage()).contains("must be a string"));
        assertThatThrownBy(() -> upload("{\"content\":\"abc", 100))
                .isInstanceOfSatisfying(BurrowException.class, e -> assertThat(e.getMessage()).contains("malformed JSON"));
        assertThatThrownBy(() -> upload("[1]", 100)).isInstanceOf(BurrowException.class);
    }

    @Test
    void contentOverTheFileLimitIsTooLarge() {
        assertThatThrownBy(() -> upload("{\"content\":\"0123456789\"}", 5))
                .isInstanceOfSatisfying(BurrowException.class, e -> {
                    assertThat(e.kind()).isEqualTo(BurrowException.Kind.TOO_LARGE);
                    assertThat(e.code()).isEqualTo("FILE_TOO_LARGE");
                });
    }

    @Test
    void readsAreEncodedAsTheSdkExpects() throws Exception {
        byte[] bytes = new byte[100_000];
        new java.util.Random(1).nextBytes(bytes);
        var out = new ByteArrayOutputStream();
        FileBodies.writeJson(new java.io.ByteArrayInputStream(bytes), out);
        var node = Json.MAPPER.readTree(out.toByteArray());
        assertThat(node.get("encoding").asText()).isEqualTo("base64");
        assertThat(Base64.getDecoder().decode(node.get("content").asText())).isEqualTo(bytes);
    }
}
