DROP INDEX credit_checks_subject_bucket_idx;
CREATE INDEX credit_checks_subject_idx ON credit_checks (subject_key);
ALTER TABLE credit_checks DROP COLUMN subject_bucket;
