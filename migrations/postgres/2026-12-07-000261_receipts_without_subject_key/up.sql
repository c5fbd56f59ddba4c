-- A receipt (核查记录) is an immutable record of an answer; its subject_id was read from subjects
-- by the check itself, subjects are never deleted, and the stored answer keeps the subject's code
-- and name. The foreign key cost every receipt an index probe and a FOR KEY SHARE lock on the
-- subject's row, that is a write (and, after each checkpoint, a full-page image in the WAL) to
-- the subjects table on every check (docs/performance.md, PostgreSQL checks). The keys to the
-- caller (a handful of hot rows) stay.
DO $$
DECLARE c text;
BEGIN
    FOR c IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'credit_checks'::regclass AND contype = 'f'
          AND confrelid = 'subjects'::regclass
    LOOP
        EXECUTE format('ALTER TABLE credit_checks DROP CONSTRAINT %I', c);
    END LOOP;
END $$;
