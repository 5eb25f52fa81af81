-- The status list must equal dev.burrow.core.vm.VmStatus (a drift test checks it).
CREATE TABLE vms (
    id               TEXT    PRIMARY KEY,
    status           TEXT    NOT NULL CHECK (status IN ('creating','starting','running','suspending','suspended','resuming','stopping','stopped','failed','deleting','deleted')),
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
CREATE INDEX vms_status ON vms(status);

CREATE TABLE vm_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    vm_id       TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    op          TEXT    NOT NULL,
    cause       TEXT    NOT NULL,
    detail      TEXT,
    duration_ms INTEGER
);
CREATE INDEX vm_events_vm ON vm_events(vm_id, id);

CREATE TABLE api_keys (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    sha256  TEXT NOT NULL UNIQUE,
    admin   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
