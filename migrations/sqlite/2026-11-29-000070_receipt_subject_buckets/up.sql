-- Receipts (核查记录) are found by subject through one of 8 buckets instead of an index on the
-- subject itself. SQLite's write-ahead log writes whole pages: an index ordered by subject takes
-- each new receipt to a different page, so every receipt cost one more 4 KB page in the log and
-- again at the checkpoint, about four fifths of all bytes written by the credit check. Within a
-- bucket the index is ordered by receipt id, so a group commit adds to at most 8 pages, and the
-- subject is part of the index entry, so a search by subject reads one bucket's entries (an
-- eighth of the receipts) newest first without touching the table. See docs/performance.md.
-- The bucket is the last byte of the subject's lookup key modulo 8 (`checks::receipts::subject_bucket`).
ALTER TABLE credit_checks ADD COLUMN subject_bucket INTEGER NOT NULL DEFAULT 0;
UPDATE credit_checks SET subject_bucket = unicode(substr(subject_key, -1)) % 8;
DROP INDEX credit_checks_subject_idx;
CREATE INDEX credit_checks_subject_bucket_idx ON credit_checks (subject_bucket, id, subject_key);
