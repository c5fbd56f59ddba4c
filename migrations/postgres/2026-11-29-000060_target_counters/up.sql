-- Year-end targets (年度目标) kept as the data changes, so that the report reads a few thousand
-- counter rows instead of every entry (docs/targets.md, "How the figures are counted").
-- Triggers keep them: every write path (API, import, repair, demo, bench-data, SQL by hand)
-- updates them in the same transaction as the change. The SQLite migration of the same name
-- holds the same definitions in SQLite's dialect.

-- Section 九 counts the subjects still listed under marked scope items on the day from this
-- index alone.
CREATE INDEX list_entries_scope_item_idx ON list_entries
    (scope_item_id, list_type, status, valid_until, valid_from, removal_date, region_code,
     department_id, subject_id);

-- Years a population can be counted for.
CREATE TABLE plan_years (
    year INTEGER PRIMARY KEY,
    first_day DATE NOT NULL,
    last_day DATE NOT NULL
);
INSERT INTO plan_years (year, first_day, last_day)
SELECT n, make_date(n, 1, 1), make_date(n, 12, 31) FROM generate_series(1990, 2100) AS n;

-- Entries in force, as day deltas: an entry adds 1 on its first day in force and takes it
-- back on the day it stops (the day after valid_until, or its removal date if earlier).
-- "In force on D" = sum of the deltas up to D. `in_force_months` holds the same deltas summed
-- per calendar month (`month` = its first day).
CREATE TABLE in_force_days (
    day DATE NOT NULL,
    region_code TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    list_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, region_code, department_id, source, list_type)
);
CREATE TABLE in_force_months (
    month DATE NOT NULL,
    region_code TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    list_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (month, region_code, department_id, source, list_type)
);

CREATE FUNCTION in_force_change(d DATE, r TEXT, dept INTEGER, src TEXT, lt TEXT, delta INTEGER)
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

-- An entry's contribution (sign +1 or -1): from valid_from up to the stop day, for every entry
-- that is not a draft.
CREATE FUNCTION in_force_entry(e list_entries, sign INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stop DATE;
BEGIN
    IF e.status = 'draft' THEN
        RETURN;
    END IF;
    stop := CASE WHEN e.removal_date IS NOT NULL AND e.removal_date <= e.valid_until
                 THEN e.removal_date ELSE e.valid_until + 1 END;
    IF e.valid_from >= stop THEN
        RETURN;
    END IF;
    PERFORM in_force_change(e.valid_from, e.region_code, e.department_id, e.source, e.list_type, sign);
    PERFORM in_force_change(stop, e.region_code, e.department_id, e.source, e.list_type, -sign);
END $$;

-- The populations of the year's rates, one row per subject, year, population and counting unit,
-- with the first day of the year the subject belonged, and the first days it completed a repair
-- training and signed a repair commitment (any year):
--   'black_enterprises': enterprises black-listed on some day of the year (training and
--     commitment rates, section 六);
--   'special_objects': subjects of any kind black-listed on some day of the year under a scope
--     item marked as a special-rectification category (section 九).
-- Units: the whole city ('city', unit '220500'), a region ('region', its code), a department
-- ('department', its id) and a department within a region ('region_department', 'code/id').
CREATE TABLE population_members (
    subject_id INTEGER NOT NULL,
    year INTEGER NOT NULL,
    population TEXT NOT NULL CHECK (population IN ('black_enterprises', 'special_objects')),
    grouping TEXT NOT NULL CHECK (grouping IN ('city', 'region', 'department', 'region_department')),
    unit TEXT NOT NULL,
    first_day DATE NOT NULL,
    trained_on DATE,
    committed_on DATE,
    PRIMARY KEY (subject_id, year, population, grouping, unit)
);

-- The same as day counts: members who joined on `day`, and members who became trained or
-- committed on `day` (the later of joining and the training or signing).
CREATE TABLE population_days (
    year INTEGER NOT NULL,
    population TEXT NOT NULL,
    day DATE NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    members INTEGER NOT NULL,
    trained INTEGER NOT NULL,
    committed INTEGER NOT NULL,
    PRIMARY KEY (year, population, day, grouping, unit)
);

CREATE FUNCTION population_change(p population_members, sign INTEGER)
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

CREATE FUNCTION population_members_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM population_change(NEW, 1);
    ELSE
        PERFORM population_change(OLD, -1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER population_members_counters AFTER INSERT OR DELETE ON population_members
FOR EACH ROW EXECUTE FUNCTION population_members_counters();

-- Recounts one subject from its entries, the special-rectification marks, training attendance
-- and commitments (a subject has few of each). Concurrent recounts of one subject wait for each
-- other.
CREATE FUNCTION population_refresh(subject INTEGER)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7301, subject);
    DELETE FROM population_members WHERE subject_id = subject;
    INSERT INTO population_members
        (subject_id, year, population, grouping, unit, first_day, trained_on, committed_on)
    SELECT e.subject_id, y.year, p.population, g.grouping,
           CASE g.grouping
               WHEN 'city' THEN '220500'
               WHEN 'region' THEN e.region_code
               WHEN 'department' THEN e.department_id::text
               ELSE e.region_code || '/' || e.department_id
           END,
           MIN(GREATEST(e.valid_from, y.first_day)),
           CASE p.population WHEN 'black_enterprises' THEN
               (SELECT MIN(ts.session_date)
                  FROM training_attendance ta
                  JOIN training_sessions ts ON ts.id = ta.session_id
                 WHERE ta.subject_id = subject AND ta.completed)
           END,
           (SELECT MIN((c.signed_at + interval '8 hours')::date)
              FROM commitments c
             WHERE c.subject_id = subject AND c.purpose = 'repair')
      FROM list_entries e
      JOIN subjects s ON s.id = e.subject_id
      LEFT JOIN special_rectification_items sp ON sp.item_id = e.scope_item_id
      JOIN plan_years y ON e.valid_from <= y.last_day AND e.valid_until >= y.first_day
      CROSS JOIN (VALUES ('black_enterprises'), ('special_objects')) AS p (population)
      CROSS JOIN (VALUES ('city'), ('region'), ('department'), ('region_department')) AS g (grouping)
     WHERE e.subject_id = subject
       AND e.list_type = 'black'
       AND e.status <> 'draft'
       AND e.valid_from <= e.valid_until
       AND (e.removal_date IS NULL
            OR (e.removal_date > y.first_day AND e.removal_date > e.valid_from))
       AND ((p.population = 'black_enterprises' AND s.kind = 'enterprise')
            OR (p.population = 'special_objects' AND sp.item_id IS NOT NULL))
     GROUP BY e.subject_id, y.year, p.population, g.grouping, 5;
END $$;

CREATE FUNCTION list_entries_counters() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF TG_OP = 'INSERT' AND NEW.list_type = 'black' THEN
        PERFORM population_refresh(NEW.subject_id);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.list_type = 'black'
       AND (OLD.list_type <> 'black' OR OLD.subject_id <> NEW.subject_id) THEN
        PERFORM population_refresh(NEW.subject_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER list_entries_counters
AFTER INSERT OR DELETE OR UPDATE OF
    subject_id, list_type, status, region_code, department_id, source, valid_from, valid_until,
    removal_date, scope_item_id
ON list_entries FOR EACH ROW EXECUTE FUNCTION list_entries_counters();

-- Training attendance, training dates, commitments, special-rectification marks and a
-- subject's kind change who counts.
CREATE FUNCTION subject_population_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'subjects' THEN
        PERFORM population_refresh(NEW.id);
    ELSIF TG_TABLE_NAME = 'special_rectification_items' THEN
        PERFORM population_refresh(e.subject_id)
           FROM (SELECT DISTINCT subject_id FROM list_entries
                  WHERE scope_item_id = COALESCE(NEW.item_id, OLD.item_id)) e;
    ELSIF TG_TABLE_NAME = 'training_sessions' THEN
        PERFORM population_refresh(ta.subject_id)
           FROM training_attendance ta WHERE ta.session_id = NEW.id;
    ELSE
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM population_refresh(OLD.subject_id);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.subject_id <> OLD.subject_id) THEN
            PERFORM population_refresh(NEW.subject_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER subjects_population AFTER UPDATE OF kind ON subjects
FOR EACH ROW EXECUTE FUNCTION subject_population_changed();
CREATE TRIGGER training_sessions_population AFTER UPDATE OF session_date ON training_sessions
FOR EACH ROW EXECUTE FUNCTION subject_population_changed();
CREATE TRIGGER training_attendance_population
AFTER INSERT OR DELETE OR UPDATE OF subject_id, session_id, completed ON training_attendance
FOR EACH ROW EXECUTE FUNCTION subject_population_changed();
CREATE TRIGGER special_items_population AFTER INSERT OR DELETE ON special_rectification_items
FOR EACH ROW EXECUTE FUNCTION subject_population_changed();
CREATE TRIGGER commitments_population
AFTER INSERT OR DELETE OR UPDATE OF subject_id, purpose, signed_at ON commitments
FOR EACH ROW EXECUTE FUNCTION subject_population_changed();

-- Count what is already there.
SELECT in_force_entry(e, 1) FROM list_entries e;
SELECT population_refresh(subject_id)
  FROM (SELECT DISTINCT subject_id FROM list_entries WHERE list_type = 'black') s;
