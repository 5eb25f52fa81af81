-- Many hosts on one database (PostgreSQL). Tables used through NodeStore, LeaseStore and ClaimQueue; times are epoch ms.

-- The loops of a host walk its own VMs (WHERE node = ? ORDER BY id).
CREATE INDEX vms_node ON vms(node, id);

-- The hosts: each registers at start and renews heartbeat_at; an old heartbeat means a stale node (rows are kept).
CREATE TABLE nodes (
    id           TEXT   PRIMARY KEY,
    address      TEXT,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    labels       TEXT   NOT NULL,  -- JSON object of strings
    capacity     TEXT   NOT NULL   -- JSON object of numbers (vcpus, memory, VMs)
);
CREATE INDEX nodes_heartbeat ON nodes(heartbeat_at);

-- Named leases with a TTL: free when expires_at <= now; generation grows each time the lease changes hands.
CREATE TABLE leases (
    name        TEXT   PRIMARY KEY,
    owner_node  TEXT   NOT NULL,
    owner_token TEXT   NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    generation  BIGINT NOT NULL
);

-- Items of durable queues: claimable when available_at <= now; a claim moves available_at to the end of its
-- visibility timeout (so an abandoned claim becomes claimable again by itself) and counts the attempt.
CREATE TABLE claims (
    id           TEXT    PRIMARY KEY,
    queue        TEXT    NOT NULL,
    payload      TEXT,
    created_at   BIGINT  NOT NULL,
    available_at BIGINT  NOT NULL,
    attempts     INTEGER NOT NULL,
    owner_node   TEXT,
    owner_token  TEXT
);
CREATE INDEX claims_claimable ON claims(queue, available_at, created_at, id);
