-- The append-only receipt log (RFC 9162 as model; docs/credit-checks.md, "The receipt log").
-- Receipts (credit_checks) are not changed: the log refers to them by id and holds their hashes.

-- Sequenced receipts in log order.
CREATE TABLE receipt_log_leaves (
    leaf_index BIGINT PRIMARY KEY NOT NULL,
    check_id INTEGER NOT NULL UNIQUE,
    -- SHA-256(0x00 || JCS(receipt)), hex (checks::receipt_hash).
    leaf_hash TEXT NOT NULL
);

-- PostgreSQL: receipts committed but not yet sequenced (the writer adds them in the receipt's own
-- transaction). SQLite sequences by id instead and leaves this table empty.
CREATE TABLE receipt_log_pending (
    check_id INTEGER PRIMARY KEY NOT NULL
);

-- One row: the log's size, the last receipt id sequenced (SQLite), and the right edge of the
-- tree (JSON [[height, hex], ...]) from which the next root is computed.
CREATE TABLE receipt_log_state (
    id INTEGER PRIMARY KEY NOT NULL,
    size BIGINT NOT NULL,
    last_check_id INTEGER NOT NULL,
    frontier TEXT NOT NULL
);
INSERT INTO receipt_log_state (id, size, last_check_id, frontier) VALUES (1, 0, 0, '[]');

-- Signed checkpoints: the log's size and tree head, signed.
CREATE TABLE receipt_checkpoints (
    tree_size BIGINT PRIMARY KEY NOT NULL,
    root_hash TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL
);
