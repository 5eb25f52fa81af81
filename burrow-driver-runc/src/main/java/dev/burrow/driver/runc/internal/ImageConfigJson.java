package dev.burrow.driver.runc.internal;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The part of an image that shapes a VM besides its files (reference, digest, env, workdir, cmd, user), kept
 * in a VM's and a snapshot's storage metadata. A VM made from a snapshot takes its defaults from there, so a
 * fork works even when the image itself is no longer cached or its registry is unreachable.
 */
final class ImageConfigJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ImageConfigJson() { }

    static ObjectNode toJson(UnpackedImage image) {
        ObjectNode node = JSON.createObjectNode();
        node.put("ref", image.ref());
        node.put("digest", image.digest());
        ObjectNode env = node.putObject("env");
        image.env().forEach(env::put);
        node.put("workdir", image.workdir());
        image.cmd().forEach(node.putArray("cmd")::add);
        node.put("user", image.user());
        return node;
    }

    /** The image config without a root filesystem (none is needed: the disk comes from the snapshot). */
    static UnpackedImage fromJson(JsonNode node) {
        Map<String, String> env = new LinkedHashMap<>();
        node.path("env").properties().forEach(e -> env.put(e.getKey(), e.getValue().asText()));
        List<String> cmd = new ArrayList<>();
        node.path("cmd").forEach(c -> cmd.add(c.asText()));
        return new UnpackedImage(node.path("ref").asText(null), node.path("digest").asText(null), null, env,
                node.path("workdir").asText(null), cmd, node.path("user").asText(null));
    }
}
