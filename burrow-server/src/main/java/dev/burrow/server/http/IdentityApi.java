package dev.burrow.server.http;

import java.time.Instant;
import java.util.Map;

import dev.burrow.api.IdentityResponses.AddSshKeyRequest;
import dev.burrow.api.IdentityResponses.CreateTokenRequest;
import dev.burrow.api.IdentityResponses.CreateTokenResponse;
import dev.burrow.api.IdentityResponses.IdentityInfo;
import dev.burrow.api.IdentityResponses.ListIdentitiesResponse;
import dev.burrow.api.IdentityResponses.ListSshKeysResponse;
import dev.burrow.api.IdentityResponses.ListTokensResponse;
import dev.burrow.api.IdentityResponses.ListVmPermissionsResponse;
import dev.burrow.api.IdentityResponses.SshKeyInfo;
import dev.burrow.api.IdentityResponses.TokenInfo;
import dev.burrow.api.IdentityResponses.VmPermissionInfo;
import dev.burrow.api.IdentityResponses.VmPermissionRequest;
import dev.burrow.core.access.Identities;
import dev.burrow.core.access.Identity;
import dev.burrow.core.access.SshKey;
import dev.burrow.core.access.VmPermission;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.server.http.RouteTable.Access;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;

/**
 * The {@code /identity/v1} routes: Freestyle's identity API (identities, VM permissions, access tokens) and
 * Burrow's SSH public keys, over {@link Identities}. Every success answers a JSON object, {@code {}} when there is
 * nothing to say, because the SDK parses every response body.
 */
public final class IdentityApi implements ApiModule {
    private static final String BASE = "/identity/v1/identities";
    private static final String ONE = BASE + "/{identity}";
    private static final int DEFAULT_LIMIT = 100;
    private static final int MAX_LIMIT = 1000;

    private final Identities identities;

    public IdentityApi(Identities identities) {
        this.identities = identities;
    }

    @Override
    public void register(RoutesConfig cfg, RouteTable table) {
        table.add(cfg, HandlerType.GET, BASE, "List identities, oldest first (limit, offset, includeManaged)", null,
                ListIdentitiesResponse.class, Access.API_KEY, ctx -> {
                    boolean managed = boolQuery(ctx, "includeManaged");
                    var page = identities.list(managed, limit(ctx), offset(ctx));
                    ctx.json(new ListIdentitiesResponse(page.items().stream().map(IdentityApi::info).toList(),
                            page.offset(), page.total()));
                });
        table.add(cfg, HandlerType.POST, BASE, "Create an identity (no body)", null, IdentityInfo.class, Access.API_KEY,
                ctx -> ctx.json(info(identities.create())));
        table.add(cfg, HandlerType.DELETE, ONE, "Delete an identity with its permissions, tokens and SSH keys", null,
                null, Access.API_KEY, ctx -> {
                    identities.delete(identity(ctx));
                    ctx.json(Map.of());
                });

        table.add(cfg, HandlerType.GET, ONE + "/permissions/vm", "List the identity's VM permissions (limit, offset)",
                null, ListVmPermissionsResponse.class, Access.API_KEY, ctx -> {
                    var page = identities.permissions(identity(ctx), limit(ctx), offset(ctx));
                    ctx.json(new ListVmPermissionsResponse(page.items().stream().map(IdentityApi::info).toList(),
                            page.offset(), page.total()));
                });
        table.add(cfg, HandlerType.GET, ONE + "/permissions/vm/{vm_id}", "Get the identity's permission on a VM", null,
                VmPermissionInfo.class, Access.API_KEY,
                ctx -> ctx.json(info(identities.permission(identity(ctx), ctx.pathParam("vm_id")))));
        table.add(cfg, HandlerType.POST, ONE + "/permissions/vm/{vm_id}",
                "Grant SSH access to a VM (allowedUsers null: any Linux user); granting again replaces allowedUsers",
                VmPermissionRequest.class, VmPermissionInfo.class, Access.API_KEY, ctx -> {
                    var req = VmRequests.optionalBody(ctx, VmPermissionRequest.class);
                    ctx.json(info(identities.grant(identity(ctx), ctx.pathParam("vm_id"),
                            req == null ? null : req.allowedUsers(), Auth.keyId(ctx))));
                });
        table.add(cfg, HandlerType.PUT, ONE + "/permissions/vm/{vm_id}",
                "Change which Linux users an existing permission allows", VmPermissionRequest.class,
                VmPermissionInfo.class, Access.API_KEY, ctx -> {
                    // Required: an empty PUT would otherwise widen the permission to every user by accident.
                    var req = VmRequests.requiredBody(ctx, VmPermissionRequest.class);
                    ctx.json(info(identities.updatePermission(identity(ctx), ctx.pathParam("vm_id"), req.allowedUsers())));
                });
        table.add(cfg, HandlerType.DELETE, ONE + "/permissions/vm/{vm_id}", "Revoke the identity's access to a VM",
                null, null, Access.API_KEY, ctx -> {
                    identities.revokePermission(identity(ctx), ctx.pathParam("vm_id"));
                    ctx.json(Map.of());
                });

        table.add(cfg, HandlerType.GET, ONE + "/tokens", "List the identity's tokens that were not revoked", null,
                ListTokensResponse.class, Access.API_KEY, ctx -> {
                    Instant now = identities.now();
                    ctx.json(new ListTokensResponse(identities.tokens(identity(ctx)).stream()
                            .map(t -> new TokenInfo(t.id(), t.createdAt(), t.expiresAt(), !t.activeAt(now))).toList()));
                });
        table.add(cfg, HandlerType.POST, ONE + "/tokens",
                "Issue an access token (the secret is shown once); optional {expiresInSeconds} or {expiresAt}",
                CreateTokenRequest.class, CreateTokenResponse.class, Access.API_KEY, ctx -> {
                    var req = VmRequests.optionalBody(ctx, CreateTokenRequest.class);
                    var issued = identities.issueToken(identity(ctx), req == null ? null : req.expiresInSeconds(),
                            req == null ? null : instant(req.expiresAt(), "expiresAt"));
                    ctx.json(new CreateTokenResponse(issued.token().id(), issued.secret(), issued.token().createdAt(),
                            issued.token().expiresAt()));
                });
        table.add(cfg, HandlerType.DELETE, ONE + "/tokens/{token}",
                "Revoke a token by its id; it is refused at once, on open SSH sessions' next channel too", null, null,
                Access.API_KEY, ctx -> {
                    identities.revokeToken(identity(ctx), ctx.pathParam("token"));
                    ctx.json(Map.of());
                });

        table.add(cfg, HandlerType.GET, ONE + "/ssh-keys", "List the identity's SSH public keys", null,
                ListSshKeysResponse.class, Access.API_KEY,
                ctx -> ctx.json(new ListSshKeysResponse(identities.sshKeys(identity(ctx)).stream()
                        .map(IdentityApi::info).toList())));
        table.add(cfg, HandlerType.POST, ONE + "/ssh-keys",
                "Register an SSH public key ({publicKey: 'ssh-ed25519 AAAA… comment'}; ed25519, rsa >= 2048, ecdsa)",
                AddSshKeyRequest.class, SshKeyInfo.class, Access.API_KEY, ctx -> {
                    var req = VmRequests.requiredBody(ctx, AddSshKeyRequest.class);
                    if (req.publicKey() == null) throw BurrowException.of(ErrorCode.INVALID_PUBLIC_KEY, "'publicKey' is required");
                    ctx.json(info(identities.addSshKey(identity(ctx), req.publicKey())));
                });
        table.add(cfg, HandlerType.DELETE, ONE + "/ssh-keys/{key_id}", "Remove an SSH public key", null, null, Access.API_KEY,
                ctx -> {
                    identities.deleteSshKey(identity(ctx), ctx.pathParam("key_id"));
                    ctx.json(Map.of());
                });
    }

    private static String identity(Context ctx) {
        return ctx.pathParam("identity");
    }

    private static int limit(Context ctx) {
        return intQuery(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
    }

    private static int offset(Context ctx) {
        return intQuery(ctx, "offset", 0, 0, Integer.MAX_VALUE);
    }

    /** An empty value ({@code ?limit=}, as clients that serialise unset fields send) counts as absent here. */
    private static int intQuery(Context ctx, String name, int dflt, int min, int max) {
        String v = ctx.queryParam(name);
        return v != null && v.isEmpty() ? dflt : QueryParams.intParam(ctx, name, dflt, min, max);
    }

    private static boolean boolQuery(Context ctx, String name) {
        String v = ctx.queryParam(name);
        if (v == null || v.isEmpty()) return false;
        if (v.equals("true")) return true;
        if (v.equals("false")) return false;
        throw ApiException.badRequest("'" + name + "' must be true or false");
    }

    private static Instant instant(String text, String field) {
        if (text == null) return null;
        try {
            return Instant.parse(text);
        } catch (java.time.format.DateTimeParseException e) {
            throw BurrowException.of(ErrorCode.INVALID_EXPIRY,
                    "'" + field + "' must be an ISO-8601 instant such as 2030-01-31T12:00:00Z");
        }
    }

    private static IdentityInfo info(Identity i) {
        return new IdentityInfo(i.id(), i.managed(), i.createdAt());
    }

    private static VmPermissionInfo info(VmPermission p) {
        return new VmPermissionInfo(p.id(), p.vmId(), p.identityId(), p.allowedUsers(), p.grantedAt(), p.grantedBy());
    }

    private static SshKeyInfo info(SshKey k) {
        return new SshKeyInfo(k.id(), k.identityId(), k.publicKey(), k.fingerprint(), k.comment(), k.createdAt());
    }
}
