-- Section 九's "still listed on D" (special-rectification objects with a black entry under a
-- marked scope item in force on D) kept as day deltas, like every other figure of the year-end
-- targets report (docs/targets.md, "How the figures are counted"). Counting the distinct
-- subjects from `list_entries` on each request took 0.6 s of the whole-city report over
-- 1,000,000 entries (docs/performance.md).
--
-- A subject is still listed on D in a unit when one of its marked entries there is in force on
-- D, so what counts is the union of those entries' in-force intervals: its stretches. A stretch
-- adds 1 on its first day and takes it back on the day it stops; "still listed on D" is the sum
-- of the deltas up to D, read like the in-force counts (whole months, then the days of D's
-- month). The stretches are recounted with the subject's populations by `population_refresh`,
-- so every change that recounts a subject (its entries, a special-rectification mark) keeps
-- them; the SQLite migration of the same name holds the same definitions.

-- A subject's stretches per counting unit (the units of `population_members`): [from_day,
-- stop_day), stop_day being the first day it is no longer listed there.
CREATE TABLE special_listed_spans (
    subject_id INTEGER NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    from_day DATE NOT NULL,
    stop_day DATE NOT NULL,
    PRIMARY KEY (subject_id, grouping, unit, from_day)
);
CREATE TABLE special_listed_days (
    day DATE NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, grouping, unit)
);
CREATE TABLE special_listed_months (
    month DATE NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (month, grouping, unit)
);
-- Appended by the trigger, folded at commit with the other counters (migration
-- `counter_deltas`).
CREATE TABLE special_listed_pending (LIKE special_listed_days);

-- The stretches of the subjects `lo` to `hi`: their marked, published black entries' in-force
-- intervals per unit, merged where they overlap or touch (gaps and islands: an interval starts
-- a stretch when it begins after every earlier one has stopped). Used by `population_refresh`
-- for one subject and by `bench-data` for all it wrote.
CREATE FUNCTION special_listed_stretches(lo INTEGER, hi INTEGER)
RETURNS SETOF special_listed_spans LANGUAGE sql STABLE AS $$
SELECT subject_id, grouping, unit, MIN(a), MAX(b)
  FROM (SELECT subject_id, grouping, unit, a, b,
               SUM(starts) OVER (PARTITION BY subject_id, grouping, unit ORDER BY a, b
                                 ROWS UNBOUNDED PRECEDING) AS island
          FROM (SELECT subject_id, grouping, unit, a, b,
                       CASE WHEN a <= MAX(b) OVER (PARTITION BY subject_id, grouping, unit
                                                   ORDER BY a, b ROWS BETWEEN UNBOUNDED
                                                   PRECEDING AND 1 PRECEDING)
                            THEN 0 ELSE 1 END AS starts
                  FROM (SELECT e.subject_id, g.grouping,
                               CASE g.grouping
                                   WHEN 'city' THEN '220500'
                                   WHEN 'region' THEN e.region_code
                                   WHEN 'department' THEN e.department_id::text
                                   ELSE e.region_code || '/' || e.department_id
                               END AS unit,
                               e.valid_from AS a,
                               CASE WHEN e.removal_date IS NOT NULL
                                         AND e.removal_date <= e.valid_until
                                    THEN e.removal_date ELSE e.valid_until + 1 END AS b
                          FROM list_entries e
                          JOIN special_rectification_items sp ON sp.item_id = e.scope_item_id
                         CROSS JOIN (VALUES ('city'), ('region'), ('department'),
                                            ('region_department')) AS g (grouping)
                         WHERE e.subject_id BETWEEN lo AND hi
                           AND e.list_type = 'black'
                           AND e.status <> 'draft') iv
                 WHERE a < b) marked) islands
 GROUP BY subject_id, grouping, unit, island
$$;

CREATE FUNCTION special_listed_spans_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM counters_fold_at_commit();
    IF TG_OP = 'INSERT' THEN
        INSERT INTO special_listed_pending (day, grouping, unit, n)
        VALUES (NEW.from_day, NEW.grouping, NEW.unit, 1),
               (NEW.stop_day, NEW.grouping, NEW.unit, -1);
    ELSE
        INSERT INTO special_listed_pending (day, grouping, unit, n)
        VALUES (OLD.from_day, OLD.grouping, OLD.unit, -1),
               (OLD.stop_day, OLD.grouping, OLD.unit, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER special_listed_spans_counters AFTER INSERT OR DELETE ON special_listed_spans
FOR EACH ROW EXECUTE FUNCTION special_listed_spans_counters();

-- `population_refresh` recounts the stretches too: the old function keeps its populations'
-- part under a new name, and the new one calls both (trigger functions call it by name).
ALTER FUNCTION population_refresh(INTEGER) RENAME TO population_refresh_members;
CREATE FUNCTION population_refresh(subject INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM population_refresh_members(subject);
    DELETE FROM special_listed_spans WHERE subject_id = subject;
    INSERT INTO special_listed_spans (subject_id, grouping, unit, from_day, stop_day)
    SELECT * FROM special_listed_stretches(subject, subject);
END $$;

-- The fold at commit adds the stretches' deltas too (the rest as in `counter_deltas`).
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
    INSERT INTO special_listed_days AS t (day, grouping, unit, n)
    SELECT day, grouping, unit, SUM(n)
      FROM special_listed_pending
     GROUP BY day, grouping, unit
     ORDER BY day, grouping, unit
    ON CONFLICT (day, grouping, unit) DO UPDATE SET n = t.n + excluded.n;
    INSERT INTO special_listed_months AS t (month, grouping, unit, n)
    SELECT date_trunc('month', day)::date, grouping, unit, SUM(n)
      FROM special_listed_pending
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (month, grouping, unit) DO UPDATE SET n = t.n + excluded.n;
    DELETE FROM special_listed_pending;
    DELETE FROM counter_folds WHERE txid = NEW.txid;
    RETURN NULL;
END $$;

-- Count what is already there.
INSERT INTO special_listed_spans (subject_id, grouping, unit, from_day, stop_day)
SELECT * FROM special_listed_stretches(-2147483648, 2147483647);
