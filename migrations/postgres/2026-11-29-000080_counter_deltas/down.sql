CREATE OR REPLACE FUNCTION in_force_change(d DATE, r TEXT, dept INTEGER, src TEXT, lt TEXT, delta INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO in_force_days (day, region_code, department_id, source, list_type, n)
    VALUES (d, r, dept, src, lt, delta)
    ON CONFLICT (day, region_code, department_id, source, list_type)
    DO UPDATE SET n = in_force_days.n + excluded.n;
    INSERT INTO in_force_months (month, region_code, department_id, source, list_type, n)
    VALUES (date_trunc('month', d)::date, r, dept, src, lt, delta)
    ON CONFLICT (month, region_code, department_id, source, list_type)
    DO UPDATE SET n = in_force_months.n + excluded.n;
END $$;

CREATE OR REPLACE FUNCTION population_change(p population_members, sign INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO population_days AS t
        (year, population, day, grouping, unit, members, trained, committed)
    SELECT p.year, p.population, d, p.grouping, p.unit, SUM(m), SUM(tr), SUM(co)
      FROM (SELECT p.first_day AS d, sign AS m, 0 AS tr, 0 AS co
            UNION ALL
            SELECT GREATEST(p.first_day, p.trained_on), 0, sign, 0 WHERE p.trained_on IS NOT NULL
            UNION ALL
            SELECT GREATEST(p.first_day, p.committed_on), 0, 0, sign WHERE p.committed_on IS NOT NULL) x
     GROUP BY d
    ON CONFLICT (year, population, day, grouping, unit) DO UPDATE SET
        members = t.members + excluded.members,
        trained = t.trained + excluded.trained,
        committed = t.committed + excluded.committed;
END $$;

DROP FUNCTION counters_fold_at_commit();
DROP TRIGGER counter_folds_at_commit ON counter_folds;
DROP FUNCTION counters_fold();
DROP TABLE counter_folds;
DROP TABLE population_pending;
DROP TABLE in_force_pending;
