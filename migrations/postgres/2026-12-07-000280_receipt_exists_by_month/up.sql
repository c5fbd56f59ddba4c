-- The existence checks of check_feedback.check_id and cases.source_check_id (the foreign keys a
-- partitioned credit_checks cannot have) looked for the id in every monthly partition. They now
-- look first in the months that can hold it, from the ended months' id ranges
-- (credit_check_id_ranges; the same rule as `checks::partitions::id_window` in the service), and
-- in every partition only when it is not there, so the answer stays exact whatever that table says.

-- Whether a receipt with this id exists.
CREATE FUNCTION credit_check_exists(check_id integer) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    lo date;
    hi date;
    last_month date;
    top integer;
BEGIN
    SELECT min(month), max(month) INTO lo, hi
      FROM credit_check_id_ranges WHERE min_id <= check_id AND check_id <= max_id;
    SELECT max(month), max(max_id) INTO last_month, top FROM credit_check_id_ranges;
    IF lo IS NOT NULL THEN
        -- The months whose range holds the id, widened by a month on each side (ids are not
        -- ordered by checked_at across instances near a month's boundary).
        IF EXISTS (SELECT 1 FROM credit_checks c WHERE c.id = check_id
                     AND c.checked_at >= (lo - interval '1 month')
                     AND c.checked_at < (hi + interval '2 months')) THEN
            RETURN true;
        END IF;
    ELSIF last_month IS NOT NULL AND (top IS NULL OR check_id > top) THEN
        -- Above every recorded range: the last recorded month and the open months after it.
        IF EXISTS (SELECT 1 FROM credit_checks c WHERE c.id = check_id
                     AND c.checked_at >= last_month) THEN
            RETURN true;
        END IF;
    END IF;
    RETURN EXISTS (SELECT 1 FROM credit_checks c WHERE c.id = check_id);
END $$;

CREATE OR REPLACE FUNCTION check_feedback_check_must_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT credit_check_exists(NEW.check_id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('check_feedback names credit check %s, which does not exist', NEW.check_id);
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION cases_source_check_must_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source_check_id IS NOT NULL AND NOT credit_check_exists(NEW.source_check_id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('cases names credit check %s, which does not exist', NEW.source_check_id);
    END IF;
    RETURN NEW;
END $$;
