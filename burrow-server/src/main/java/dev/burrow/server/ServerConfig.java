package dev.burrow.server;

import java.nio.file.Path;

/**
 * Everything {@code burrow server} can be told. {@code databaseUrl} null means the embedded SQLite file in
 * the data dir; {@code imageDir} null means {@code <dataDir>/images}.
 */
public record ServerConfig(String host, int port, Path dataDir, String databaseUrl, String databaseUser,
                           String databasePassword, Path imageDir, String defaultImage, String apiKey,
                           boolean prewarmDefaultImage) {

    public static final int DEFAULT_PORT = 8700;
    public static final String DEFAULT_IMAGE = "builtin:debian";

    public Path resolvedImageDir() {
        return imageDir != null ? imageDir : dataDir.resolve("images");
    }

    public String resolvedDatabaseUrl() {
        return databaseUrl != null ? databaseUrl : "jdbc:sqlite:" + dataDir.resolve("burrow.db").toAbsolutePath();
    }
}
