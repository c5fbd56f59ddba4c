-- The same shape as PostgreSQL's (receipts waiting for the receipt log, as runs of consecutive
-- ids with their time span). SQLite sequences by id instead and leaves this table empty.
DROP TABLE receipt_log_pending;
CREATE TABLE receipt_log_pending (
    first_id INTEGER PRIMARY KEY NOT NULL,
    last_id INTEGER NOT NULL,
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    CHECK (first_id <= last_id AND first_at <= last_at)
);
