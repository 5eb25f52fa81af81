-- Custom domains routed by the preview proxy (the create field 'domains' and /domains/v1/mappings). A domain maps to
-- one VM at most (UNIQUE); the rows of a VM are removed when it is deleted (explicitly: vm_id has no foreign key,
-- VM rows are kept after deletion).
CREATE TABLE domain_mappings (
    id         TEXT    PRIMARY KEY,
    domain     TEXT    NOT NULL UNIQUE,
    vm_id      TEXT    NOT NULL,
    vm_port    INTEGER NOT NULL,
    created_at INTEGER  NOT NULL
);
CREATE INDEX domain_mappings_vm ON domain_mappings(vm_id);
CREATE INDEX domain_mappings_created ON domain_mappings(created_at, id);

-- When traffic last moved to or from the VM through Burrow (epoch ms; NULL before any): Freestyle's lastNetworkActivity.
ALTER TABLE vms ADD COLUMN last_network_activity_at INTEGER;
