-- The year-end target counters (migration `target_counters`) folded once per transaction.
-- PostgreSQL keeps every update of a row as a new row version; a transaction that writes many
-- entries updated the same few counter rows (`in_force_months`, `population_days`, the busy days
-- of `in_force_days`) again for each entry, and every update had to walk past the versions the
-- transaction had made before: `bench-data` wrote about 110 entries per second in 10,000-entry
-- transactions (docs/performance.md). Now the trigger functions append their deltas to two
-- pending tables (appends make no versions to walk), and a deferred constraint trigger adds them
-- up into the counters when the transaction commits, one row per counter, in key order (the lock
-- order is the same for every transaction). Readers are unchanged: the counters hold the sums of
-- every committed transaction, as before; only the writing transaction itself no longer sees its
-- own changes in them before it commits (none of its code reads them). SQLite updates in place,
-- so its triggers are unchanged.

-- The counters' columns, without their keys (LIKE copies no indexes): rows are only appended.
CREATE TABLE in_force_pending (LIKE in_force_days);
CREATE TABLE population_pending (LIKE population_days);
-- One row per transaction with pending deltas; inserting it arms the fold at commit.
CREATE TABLE counter_folds (
    txid BIGINT PRIMARY KEY
);

CREATE FUNCTION counters_fold() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE CONSTRAINT TRIGGER counter_folds_at_commit AFTER INSERT ON counter_folds
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION counters_fold();

CREATE FUNCTION counters_fold_at_commit() RETURNS void LANGUAGE sql AS $$
    INSERT INTO counter_folds (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
$$;

CREATE OR REPLACE FUNCTION in_force_change(d DATE, r TEXT, dept INTEGER, src TEXT, lt TEXT, delta INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM counters_fold_at_commit();
    INSERT INTO in_force_pending (day, region_code, department_id, source, list_type, n)
    VALUES (d, r, dept, src, lt, delta);
END $$;

CREATE OR REPLACE FUNCTION population_change(p population_members, sign INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM counters_fold_at_commit();
    INSERT INTO population_pending
        (year, population, day, grouping, unit, members, trained, committed)
    SELECT p.year, p.population, x.d, p.grouping, p.unit, x.m, x.tr, x.co
      FROM (SELECT p.first_day AS d, sign AS m, 0 AS tr, 0 AS co
            UNION ALL
            SELECT GREATEST(p.first_day, p.trained_on), 0, sign, 0 WHERE p.trained_on IS NOT NULL
            UNION ALL
            SELECT GREATEST(p.first_day, p.committed_on), 0, 0, sign WHERE p.committed_on IS NOT NULL) x;
END $$;
