-- Back to counting section 九's still-listed subjects from list_entries on each request.
DROP FUNCTION population_refresh(INTEGER);
ALTER FUNCTION population_refresh_members(INTEGER) RENAME TO population_refresh;

CREATE OR REPLACE FUNCTION counters_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO in_force_days AS t (day, region_code, department_id, source, list_type, n)
    SELECT day, region_code, department_id, source, list_type, SUM(n)
      FROM in_force_pending
     GROUP BY day, region_code, department_id, source, list_type
     ORDER BY day, region_code, department_id, source, list_type
    ON CONFLICT (day, region_code, department_id, source, list_type)
    DO UPDATE SET n = t.n + excluded.n;
    INSERT INTO in_force_months AS t (month, region_code, department_id, source, list_type, n)
    SELECT date_trunc('month', day)::date, region_code, department_id, source, list_type, SUM(n)
      FROM in_force_pending
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (month, region_code, department_id, source, list_type)
    DO UPDATE SET n = t.n + excluded.n;
    DELETE FROM in_force_pending;
    INSERT INTO population_days AS t
        (year, population, day, grouping, unit, members, trained, committed)
    SELECT year, population, day, grouping, unit, SUM(members), SUM(trained), SUM(committed)
      FROM population_pending
     GROUP BY year, population, day, grouping, unit
     ORDER BY year, population, day, grouping, unit
    ON CONFLICT (year, population, day, grouping, unit) DO UPDATE SET
        members = t.members + excluded.members,
        trained = t.trained + excluded.trained,
        committed = t.committed + excluded.committed;
    DELETE FROM population_pending;
    DELETE FROM counter_folds WHERE txid = NEW.txid;
    RETURN NULL;
END $$;

DROP TRIGGER special_listed_spans_counters ON special_listed_spans;
DROP FUNCTION special_listed_spans_counters();
DROP FUNCTION special_listed_stretches(INTEGER, INTEGER);
DROP TABLE special_listed_pending;
DROP TABLE special_listed_months;
DROP TABLE special_listed_days;
DROP TABLE special_listed_spans;
