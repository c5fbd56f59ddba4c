-- A draft counts nowhere: the in-force counts and the target populations read entries that are
-- not drafts, so inserting a draft needs no recount (imports insert drafts by the hundred
-- thousand; publishing one is an update, which recounts).
CREATE OR REPLACE FUNCTION list_entries_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM in_force_entry(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM in_force_entry(NEW, 1);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.list_type = 'black' THEN
        PERFORM population_refresh(OLD.subject_id);
    END IF;
    IF TG_OP = 'INSERT' AND NEW.list_type = 'black' AND NEW.status <> 'draft' THEN
        PERFORM population_refresh(NEW.subject_id);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.list_type = 'black'
       AND (OLD.list_type <> 'black' OR OLD.subject_id <> NEW.subject_id) THEN
        PERFORM population_refresh(NEW.subject_id);
    END IF;
    RETURN NULL;
END $$;
