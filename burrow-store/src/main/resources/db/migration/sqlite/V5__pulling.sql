-- 'pulling': a create waiting for its image is visible before any host resource exists. SQLite cannot alter a
-- CHECK constraint, so the table is rebuilt (as in V2).
CREATE TABLE vms_new (
    id               TEXT    PRIMARY KEY,
    status           TEXT    NOT NULL CHECK (status IN ('pulling','creating','starting','running','suspending','suspended','resuming','stopping','stopped','hibernating','hibernated','failed','deleting','deleted')),
    status_reason    TEXT,
    spec             TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    node             TEXT    NOT NULL,
    driver           TEXT    NOT NULL,
    driver_handle    TEXT,
    version          INTEGER NOT NULL
);
INSERT INTO vms_new SELECT id, status, status_reason, spec, created_at, updated_at, last_activity_at, node, driver, driver_handle, version FROM vms;
DROP TABLE vms;
ALTER TABLE vms_new RENAME TO vms;
CREATE INDEX vms_status ON vms(status);
