-- A receipt (核查记录) is an immutable record of an answer. Its caller, department, field and
-- region come from the authenticated caller and the field the check validated, and the service
-- never deletes users, departments, application fields or regions (they are deactivated), so the
-- keys could never refuse a receipt. They cost every copied row one lookup and a FOR KEY SHARE
-- lock per referenced table inside PostgreSQL; with several receipt writers those locks land on
-- the same few hot rows (the caller's user and department), and the single-check load ran about
-- a third faster without them (docs/performance.md, fifteenth round). The subject's key went in
-- migration 000261. SQLite keeps its keys: they cost no lock there.
DO $$
DECLARE c text;
BEGIN
    FOR c IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'credit_checks'::regclass AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE credit_checks DROP CONSTRAINT %I', c);
    END LOOP;
END $$;
