-- Months of receipts (核查记录) archived by an administrator (issue 25; checks::archive,
-- docs/scaling.md): the month's partition is detached from credit_checks and renamed
-- credit_checks_archive_pYYYYMM, to be dumped and dropped by the operator.
CREATE TABLE receipt_archives (
    month DATE PRIMARY KEY NOT NULL,
    table_name TEXT NOT NULL,
    receipts BIGINT NOT NULL,
    archived_at TIMESTAMP NOT NULL,
    archived_by INTEGER NOT NULL REFERENCES users (id)
);

-- The receipt log's leaves whose receipts were archived, as runs of leaf indexes. A consistency
-- proof takes the log's recorded hash for these instead of reading their rows.
CREATE TABLE receipt_log_archived (
    first_leaf BIGINT PRIMARY KEY NOT NULL,
    last_leaf BIGINT NOT NULL,
    month DATE NOT NULL REFERENCES receipt_archives (month),
    CHECK (first_leaf <= last_leaf)
);
