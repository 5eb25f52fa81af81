ALTER TABLE vms DROP CONSTRAINT vms_status_check;
ALTER TABLE vms ADD CONSTRAINT vms_status_check CHECK (status IN ('creating','starting','running','suspending','suspended','resuming','stopping','stopped','hibernating','hibernated','failed','deleting','deleted'));

CREATE TABLE idempotency_keys (
    idem_key     TEXT    PRIMARY KEY,
    request_hash TEXT    NOT NULL,
    vm_id        TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
