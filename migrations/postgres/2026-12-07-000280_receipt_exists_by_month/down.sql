CREATE OR REPLACE FUNCTION check_feedback_check_must_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM credit_checks WHERE id = NEW.check_id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('check_feedback names credit check %s, which does not exist', NEW.check_id);
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION cases_source_check_must_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source_check_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM credit_checks WHERE id = NEW.source_check_id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('cases names credit check %s, which does not exist', NEW.source_check_id);
    END IF;
    RETURN NEW;
END $$;

DROP FUNCTION credit_check_exists(integer);
