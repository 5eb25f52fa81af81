-- Identities (the Freestyle identity API) and what they may do: enter VMs (vm_permissions), with access tokens
-- (only the SHA-256 of the secret is stored) or registered SSH public keys. Deleting an identity removes its
-- rows (the store deletes them explicitly too, so nothing depends on foreign keys being enforced).
-- vm_permissions.vm_id has no foreign key: a permission on a VM that is gone grants nothing and is dropped
-- once the VM is deleted.
CREATE TABLE identities (
    id         TEXT    PRIMARY KEY,
    managed    BOOLEAN NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX identities_created ON identities(created_at, id);

CREATE TABLE vm_permissions (
    id            TEXT    PRIMARY KEY,
    identity_id   TEXT    NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    vm_id         TEXT    NOT NULL,
    allowed_users TEXT,            -- JSON array of Linux user names; NULL: any user
    granted_at    BIGINT  NOT NULL,
    granted_by    TEXT    NOT NULL,
    UNIQUE (identity_id, vm_id)
);
CREATE INDEX vm_permissions_vm ON vm_permissions(vm_id);

CREATE TABLE access_tokens (
    id          TEXT    PRIMARY KEY,
    identity_id TEXT    NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    sha256      TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX access_tokens_identity ON access_tokens(identity_id, created_at);

CREATE TABLE ssh_keys (
    id          TEXT    PRIMARY KEY,
    identity_id TEXT    NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    public_key  TEXT    NOT NULL,  -- OpenSSH form without comment: '<type> <base64>'
    fingerprint TEXT    NOT NULL UNIQUE,  -- 'SHA256:…' as ssh-keygen -l prints it; a key belongs to one identity
    comment     TEXT,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX ssh_keys_identity ON ssh_keys(identity_id, created_at);
