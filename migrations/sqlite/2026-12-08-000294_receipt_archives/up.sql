-- Months of receipts archived (see the PostgreSQL migration of the same name). SQLite keeps every
-- receipt in one table and cannot archive a month; the tables exist so that the same queries
-- read them (always empty).
CREATE TABLE receipt_archives (
    month DATE PRIMARY KEY NOT NULL,
    table_name TEXT NOT NULL,
    receipts BIGINT NOT NULL,
    archived_at TIMESTAMP NOT NULL,
    archived_by INTEGER NOT NULL REFERENCES users (id)
);

CREATE TABLE receipt_log_archived (
    first_leaf BIGINT PRIMARY KEY NOT NULL,
    last_leaf BIGINT NOT NULL,
    month DATE NOT NULL REFERENCES receipt_archives (month),
    CHECK (first_leaf <= last_leaf)
);
