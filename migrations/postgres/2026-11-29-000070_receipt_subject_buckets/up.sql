-- The receipt's subject bucket (see the SQLite migration of the same name). PostgreSQL logs row
-- changes rather than whole pages, so it keeps its index on the subject, which answers a search
-- by subject directly; the column is kept on both engines so the query is the same.
-- The bucket is the last byte of the subject's lookup key modulo 8 (`checks::receipts::subject_bucket`).
ALTER TABLE credit_checks ADD COLUMN subject_bucket INTEGER NOT NULL DEFAULT 0;
UPDATE credit_checks SET subject_bucket = ascii(right(subject_key, 1)) % 8;
