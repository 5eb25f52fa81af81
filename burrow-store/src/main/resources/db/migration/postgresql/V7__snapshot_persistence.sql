-- Snapshot persistence (Freestyle snapshotPersistence), LRU for storage-pressure eviction, and template builds.
-- Snapshots made before this migration were promised to be kept until deleted: they become persistent. New ones
-- are written with an explicit persistence (sticky priority 5 unless the request says otherwise).
ALTER TABLE snapshots ADD COLUMN persistence_type     TEXT    NOT NULL DEFAULT 'persistent';
ALTER TABLE snapshots ADD COLUMN persistence_priority INTEGER NOT NULL DEFAULT 5;
-- when a VM was last made from the snapshot (created_at until then); eviction takes the least recently used first
ALTER TABLE snapshots ADD COLUMN last_used_at         BIGINT;
-- a snapshot built from a template (POST /v1/vms/snapshots): the canonical template hash, the build cache key
ALTER TABLE snapshots ADD COLUMN template_hash        TEXT;
-- a failed template build is recorded (no disk behind it, never created from); the reason is shown in the list
ALTER TABLE snapshots ADD COLUMN failure_reason       TEXT;
-- the default user of VMs made from the snapshot (a Dockerfile's USER); null = root
ALTER TABLE snapshots ADD COLUMN default_user         TEXT;
CREATE INDEX snapshots_template ON snapshots(template_hash);
