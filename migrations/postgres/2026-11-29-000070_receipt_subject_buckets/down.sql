ALTER TABLE credit_checks DROP COLUMN subject_bucket;
