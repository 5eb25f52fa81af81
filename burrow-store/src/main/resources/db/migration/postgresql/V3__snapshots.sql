-- Disk snapshots (POST /v1/vms/{id}/snapshot, fork). A row is written only after the driver made the snapshot
-- and removed before the driver deletes it, so every row names a snapshot that exists on the host.
-- source_spec is the source VM's spec (JSON) when the snapshot was taken: forks start with its resources.
CREATE TABLE snapshots (
    id           TEXT    PRIMARY KEY,
    name         TEXT,
    source_vm_id TEXT    NOT NULL,
    image        TEXT    NOT NULL,
    source_spec  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX snapshots_created ON snapshots(created_at);
