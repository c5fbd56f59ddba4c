DROP TRIGGER list_entries_counters_ai;
CREATE TRIGGER list_entries_counters_ai AFTER INSERT ON list_entries
BEGIN
    INSERT INTO in_force_entry
        (sign, status, valid_from, valid_until, removal_date, region_code, department_id, source,
         list_type)
    VALUES (1, NEW.status, NEW.valid_from, NEW.valid_until, NEW.removal_date, NEW.region_code,
            NEW.department_id, NEW.source, NEW.list_type);
    INSERT INTO population_refresh (subject_id)
    SELECT NEW.subject_id WHERE NEW.list_type = 'black';
END;
