package dev.burrow.server.http;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import dev.burrow.api.FileResponses;
import dev.burrow.core.driver.OpenFile;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.lifecycle.LifecycleCoordinator;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * {@code GET/PUT /v1/vms/{id}/files/<path>}: the Freestyle JSON shape ({@code {content, encoding}}) and a raw one
 * ({@code application/octet-stream}, a Burrow extension), both streamed, so the server's memory per transfer is a
 * few fixed buffers whatever the file's size (48 reads of a 63 MiB file at once used to take ~9 GiB).
 */
public final class FilesApi implements ApiModule {
    /** Largest file the files API reads or writes in one request. */
    public static final long MAX_FILE_BYTES = 64L * 1024 * 1024;

    static final String RAW = "application/octet-stream";

    private final LifecycleCoordinator lifecycle;
    private final Path spoolDir;

    /** {@code spoolDir}: where uploads wait while their encoding is found; emptied here (leftovers of a crash). */
    public FilesApi(LifecycleCoordinator lifecycle, Path spoolDir) {
        this.lifecycle = lifecycle;
        this.spoolDir = spoolDir;
        try {
            Files.createDirectories(spoolDir);
            try (var old = Files.list(spoolDir)) {
                for (Path p : old.toList()) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the upload spool " + spoolDir, e);
        }
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, "/v1/vms/{vm_id}/files/<path>",
                "Read a file ({content, encoding}; raw bytes with Accept: application/octet-stream) or list a directory "
                        + "({files}); the path may be percent-encoded whole",
                null, FileResponses.FileContent.class, RouteTable.Access.API_KEY, this::read);
        table.add(cfg, HandlerType.PUT, "/v1/vms/{vm_id}/files/<path>",
                "Write a file ({content, encoding: base64|utf8}; raw bytes with Content-Type: application/octet-stream), "
                        + "creating parent directories",
                FileResponses.WriteFileRequest.class, null, RouteTable.Access.API_KEY, this::write);
    }

    private void read(Context ctx) throws IOException {
        String id = VmRequests.vmId(ctx);
        String path = filePath(ctx);
        try (OpenFile opened = lifecycle.openFile(id, path, MAX_FILE_BYTES)) {
            switch (opened) {
                case OpenFile.Listing d -> ctx.json(new FileResponses.DirectoryListing(d.entries().stream()
                        .map(e -> new FileResponses.Entry(e.name(), e.directory() ? "directory" : "file")).toList()));
                case OpenFile.Bytes f -> {
                    boolean raw = wantsRaw(ctx.header("Accept"));
                    ctx.status(200).contentType(raw ? RAW : "application/json");
                    if (raw) ctx.res().setContentLengthLong(f.size());
                    OutputStream out = ctx.res().getOutputStream();
                    if (raw) FileBodies.copy(f.content(), out);
                    else FileBodies.writeJson(f.content(), out);
                    out.flush();
                }
            }
        }
    }

    private void write(Context ctx) throws IOException {
        String id = VmRequests.vmId(ctx);
        String path = filePath(ctx);
        long declared = ctx.req().getContentLengthLong();
        if (declared > ApiServer.MAX_BODY_BYTES) {
            ctx.header("Connection", "close");
            throw FileBodies.tooLargeBody(ApiServer.MAX_BODY_BYTES);
        }
        String type = ctx.contentType();
        if (type != null && type.toLowerCase(java.util.Locale.ROOT).startsWith(RAW)) {
            InputStream body = FileBodies.limited(ctx.req().getInputStream(), MAX_FILE_BYTES,
                    () -> new BurrowException(ErrorCode.FILE_TOO_LARGE,
                            "the file is larger than " + MAX_FILE_BYTES + " bytes"));
            writeClosingOnTooLarge(ctx, () -> lifecycle.writeFile(id, path, body, false));
            ctx.json(Map.of());
            return;
        }
        Path spool = Files.createTempFile(spoolDir, "upload-", ".json");
        try {
            writeClosingOnTooLarge(ctx, () -> {
                try {
                    FileBodies.spool(ctx.req().getInputStream(), spool, ApiServer.MAX_BODY_BYTES);
                } catch (IOException e) {
                    throw BurrowException.of(ErrorCode.BAD_REQUEST, "the request body could not be read");
                }
            });
            if (Files.size(spool) == 0) throw ApiException.badRequest("a JSON request body is required");
            FileBodies.Upload upload = FileBodies.scan(spool);
            try (InputStream content = FileBodies.content(spool, upload, MAX_FILE_BYTES)) {
                lifecycle.writeFile(id, path, content, false);
            }
            ctx.json(Map.of());
        } finally {
            Files.deleteIfExists(spool);
        }
    }

    /** A body refused part-way is left unread: the connection cannot be reused, so the client is told. */
    private static void writeClosingOnTooLarge(Context ctx, Runnable action) {
        try {
            action.run();
        } catch (BurrowException e) {
            if (e.kind() == BurrowException.Kind.TOO_LARGE) ctx.header("Connection", "close");
            throw e;
        }
    }

    static boolean wantsRaw(String accept) {
        if (accept == null) return false;
        String a = accept.toLowerCase(java.util.Locale.ROOT);
        return a.contains(RAW) && !a.contains("application/json");
    }

    /**
     * The file path after {@code /files/}. The vendor SDK percent-encodes the whole path as one segment
     * ({@code %2Ftmp%2Fa.txt}); plain slashes work too. Decoded exactly once, from the raw request URI, so
     * that no router normalisation (collapsing {@code ..}) happens before the driver's own checks.
     */
    static String filePath(Context ctx) {
        String raw = ctx.req().getRequestURI();
        int i = raw.indexOf("/files/");
        if (i < 0) throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "missing file path");
        String encoded = raw.substring(i + "/files/".length());
        String path;
        try {
            path = java.net.URLDecoder.decode(encoded.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "file path is not valid percent-encoding");
        }
        if (path.isEmpty()) throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "empty file path");
        if (path.indexOf('\0') >= 0) throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "file path contains a NUL byte");
        if (!path.startsWith("/")) path = "/" + path;
        for (String part : path.split("/")) {
            if (part.equals("..")) {
                throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "file path must not contain '..': " + path);
            }
        }
        if (path.length() > 4096) throw BurrowException.of(ErrorCode.FILES_BAD_REQUEST, "file path longer than 4096 bytes");
        return path;
    }
}
