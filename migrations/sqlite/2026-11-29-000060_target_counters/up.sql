-- Year-end targets (年度目标) kept as the data changes, so that the report reads a few thousand
-- counter rows instead of every entry (docs/targets.md, "How the figures are counted").
-- Triggers keep them: every write path (API, import, repair, demo, bench-data, SQL by hand)
-- updates them in the same transaction as the change.

-- Section 九 counts the subjects still listed under marked scope items on the day from this
-- index alone.
CREATE INDEX list_entries_scope_item_idx ON list_entries
    (scope_item_id, list_type, status, valid_until, valid_from, removal_date, region_code,
     department_id, subject_id);

-- Years a population can be counted for.
CREATE TABLE plan_years (
    year INTEGER PRIMARY KEY NOT NULL,
    first_day DATE NOT NULL,
    last_day DATE NOT NULL
);
WITH RECURSIVE y(n) AS (SELECT 1990 UNION ALL SELECT n + 1 FROM y WHERE n < 2100)
INSERT INTO plan_years (year, first_day, last_day)
SELECT n, printf('%04d-01-01', n), printf('%04d-12-31', n) FROM y;

-- Entries in force, as day deltas: an entry adds 1 on its first day in force and takes it
-- back on the day it stops (the day after valid_until, or its removal date if earlier).
-- "In force on D" = sum of the deltas up to D. `in_force_months` holds the same deltas summed
-- per calendar month (`month` = its first day), so a sum reads whole months before D's month
-- and days within it.
CREATE TABLE in_force_days (
    day DATE NOT NULL,
    region_code TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    list_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, region_code, department_id, source, list_type)
) WITHOUT ROWID;
CREATE TABLE in_force_months (
    month DATE NOT NULL,
    region_code TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    list_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (month, region_code, department_id, source, list_type)
) WITHOUT ROWID;

-- A procedure in SQLite's terms: inserting into this view applies one delta to both tables.
CREATE VIEW in_force_change AS
SELECT day, region_code, department_id, source, list_type, n FROM in_force_days WHERE 0;
CREATE TRIGGER in_force_change_apply INSTEAD OF INSERT ON in_force_change
BEGIN
    INSERT INTO in_force_days (day, region_code, department_id, source, list_type, n)
    VALUES (NEW.day, NEW.region_code, NEW.department_id, NEW.source, NEW.list_type, NEW.n)
    ON CONFLICT (day, region_code, department_id, source, list_type)
    DO UPDATE SET n = n + excluded.n;
    INSERT INTO in_force_months (month, region_code, department_id, source, list_type, n)
    VALUES (substr(NEW.day, 1, 8) || '01', NEW.region_code, NEW.department_id, NEW.source,
            NEW.list_type, NEW.n)
    ON CONFLICT (month, region_code, department_id, source, list_type)
    DO UPDATE SET n = n + excluded.n;
END;

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
) WITHOUT ROWID;

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
) WITHOUT ROWID;

CREATE VIEW population_change AS
SELECT year, population, day, grouping, unit, members, trained, committed
  FROM population_days WHERE 0;
CREATE TRIGGER population_change_apply INSTEAD OF INSERT ON population_change
BEGIN
    INSERT INTO population_days
        (year, population, day, grouping, unit, members, trained, committed)
    VALUES (NEW.year, NEW.population, NEW.day, NEW.grouping, NEW.unit, NEW.members, NEW.trained,
            NEW.committed)
    ON CONFLICT (year, population, day, grouping, unit) DO UPDATE SET
        members = members + excluded.members,
        trained = trained + excluded.trained,
        committed = committed + excluded.committed;
END;

CREATE TRIGGER population_members_ai AFTER INSERT ON population_members
BEGIN
    INSERT INTO population_change
        (year, population, day, grouping, unit, members, trained, committed)
    SELECT NEW.year, NEW.population, NEW.first_day, NEW.grouping, NEW.unit, 1, 0, 0
    UNION ALL
    SELECT NEW.year, NEW.population, max(NEW.first_day, NEW.trained_on), NEW.grouping, NEW.unit,
           0, 1, 0
     WHERE NEW.trained_on IS NOT NULL
    UNION ALL
    SELECT NEW.year, NEW.population, max(NEW.first_day, NEW.committed_on), NEW.grouping,
           NEW.unit, 0, 0, 1
     WHERE NEW.committed_on IS NOT NULL;
END;

CREATE TRIGGER population_members_ad AFTER DELETE ON population_members
BEGIN
    INSERT INTO population_change
        (year, population, day, grouping, unit, members, trained, committed)
    SELECT OLD.year, OLD.population, OLD.first_day, OLD.grouping, OLD.unit, -1, 0, 0
    UNION ALL
    SELECT OLD.year, OLD.population, max(OLD.first_day, OLD.trained_on), OLD.grouping, OLD.unit,
           0, -1, 0
     WHERE OLD.trained_on IS NOT NULL
    UNION ALL
    SELECT OLD.year, OLD.population, max(OLD.first_day, OLD.committed_on), OLD.grouping,
           OLD.unit, 0, 0, -1
     WHERE OLD.committed_on IS NOT NULL;
END;

-- Recounts one subject: inserting its id into this view rebuilds its population rows from the
-- entries, the special-rectification marks, training attendance and commitments (a subject has
-- few of each).
CREATE VIEW population_refresh AS SELECT subject_id FROM population_members WHERE 0;
CREATE TRIGGER population_refresh_apply INSTEAD OF INSERT ON population_refresh
BEGIN
    DELETE FROM population_members WHERE subject_id = NEW.subject_id;
    INSERT INTO population_members
        (subject_id, year, population, grouping, unit, first_day, trained_on, committed_on)
    SELECT e.subject_id, y.year, p.population, g.grouping,
           CASE g.grouping
               WHEN 'city' THEN '220500'
               WHEN 'region' THEN e.region_code
               WHEN 'department' THEN CAST(e.department_id AS TEXT)
               ELSE e.region_code || '/' || e.department_id
           END AS unit,
           MIN(max(e.valid_from, y.first_day)),
           CASE p.population WHEN 'black_enterprises' THEN
               (SELECT MIN(ts.session_date)
                  FROM training_attendance ta
                  JOIN training_sessions ts ON ts.id = ta.session_id
                 WHERE ta.subject_id = NEW.subject_id AND ta.completed)
           END,
           (SELECT MIN(date(c.signed_at, '+8 hours'))
              FROM commitments c
             WHERE c.subject_id = NEW.subject_id AND c.purpose = 'repair')
      FROM list_entries e
      JOIN subjects s ON s.id = e.subject_id
      LEFT JOIN special_rectification_items sp ON sp.item_id = e.scope_item_id
      JOIN plan_years y ON e.valid_from <= y.last_day AND e.valid_until >= y.first_day
      JOIN (SELECT 'black_enterprises' AS population UNION ALL SELECT 'special_objects') p
      JOIN (SELECT 'city' AS grouping UNION ALL SELECT 'region'
            UNION ALL SELECT 'department' UNION ALL SELECT 'region_department') g
     WHERE e.subject_id = NEW.subject_id
       AND e.list_type = 'black'
       AND e.status <> 'draft'
       AND e.valid_from <= e.valid_until
       AND (e.removal_date IS NULL
            OR (e.removal_date > y.first_day AND e.removal_date > e.valid_from))
       AND ((p.population = 'black_enterprises' AND s.kind = 'enterprise')
            OR (p.population = 'special_objects' AND sp.item_id IS NOT NULL))
     GROUP BY e.subject_id, y.year, p.population, g.grouping, unit;
END;

-- An entry's contribution to the in-force counts (`sign` +1 to add it, -1 to take it back):
-- from valid_from up to the stop day, for every entry that is not a draft.
CREATE VIEW in_force_entry AS
SELECT 0 AS sign, status, valid_from, valid_until, removal_date, region_code, department_id,
       source, list_type
  FROM list_entries WHERE 0;
CREATE TRIGGER in_force_entry_apply INSTEAD OF INSERT ON in_force_entry
BEGIN
    INSERT INTO in_force_change (day, region_code, department_id, source, list_type, n)
    SELECT CASE k.starts WHEN 1 THEN NEW.valid_from ELSE s.stop END,
           NEW.region_code, NEW.department_id, NEW.source, NEW.list_type,
           CASE k.starts WHEN 1 THEN NEW.sign ELSE -NEW.sign END
      FROM (SELECT CASE WHEN NEW.removal_date IS NOT NULL AND NEW.removal_date <= NEW.valid_until
                        THEN NEW.removal_date
                        ELSE date(NEW.valid_until, '+1 day') END AS stop) AS s,
           (SELECT 1 AS starts UNION ALL SELECT 0) AS k
     WHERE NEW.status <> 'draft' AND NEW.valid_from < s.stop;
END;

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

CREATE TRIGGER list_entries_counters_ad AFTER DELETE ON list_entries
BEGIN
    INSERT INTO in_force_entry
        (sign, status, valid_from, valid_until, removal_date, region_code, department_id, source,
         list_type)
    VALUES (-1, OLD.status, OLD.valid_from, OLD.valid_until, OLD.removal_date, OLD.region_code,
            OLD.department_id, OLD.source, OLD.list_type);
    INSERT INTO population_refresh (subject_id)
    SELECT OLD.subject_id WHERE OLD.list_type = 'black';
END;

CREATE TRIGGER list_entries_counters_au AFTER UPDATE OF
    subject_id, list_type, status, region_code, department_id, source, valid_from, valid_until,
    removal_date, scope_item_id
ON list_entries
BEGIN
    INSERT INTO in_force_entry
        (sign, status, valid_from, valid_until, removal_date, region_code, department_id, source,
         list_type)
    VALUES (-1, OLD.status, OLD.valid_from, OLD.valid_until, OLD.removal_date, OLD.region_code,
            OLD.department_id, OLD.source, OLD.list_type);
    INSERT INTO in_force_entry
        (sign, status, valid_from, valid_until, removal_date, region_code, department_id, source,
         list_type)
    VALUES (1, NEW.status, NEW.valid_from, NEW.valid_until, NEW.removal_date, NEW.region_code,
            NEW.department_id, NEW.source, NEW.list_type);
    INSERT INTO population_refresh (subject_id)
    SELECT OLD.subject_id WHERE OLD.list_type = 'black';
    INSERT INTO population_refresh (subject_id)
    SELECT NEW.subject_id
     WHERE NEW.list_type = 'black'
       AND (OLD.list_type <> 'black' OR OLD.subject_id <> NEW.subject_id);
END;

CREATE TRIGGER subjects_population_au AFTER UPDATE OF kind ON subjects
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (NEW.id);
END;

CREATE TRIGGER training_attendance_population_ai AFTER INSERT ON training_attendance
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (NEW.subject_id);
END;
CREATE TRIGGER training_attendance_population_ad AFTER DELETE ON training_attendance
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (OLD.subject_id);
END;
CREATE TRIGGER training_attendance_population_au AFTER UPDATE OF subject_id, session_id, completed
ON training_attendance
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (OLD.subject_id);
    INSERT INTO population_refresh (subject_id)
    SELECT NEW.subject_id WHERE NEW.subject_id <> OLD.subject_id;
END;
CREATE TRIGGER training_sessions_population_au AFTER UPDATE OF session_date ON training_sessions
BEGIN
    INSERT INTO population_refresh (subject_id)
    SELECT subject_id FROM training_attendance WHERE session_id = NEW.id;
END;

-- Marking or unmarking a scope item changes who is a special-rectification object.
CREATE TRIGGER special_items_population_ai AFTER INSERT ON special_rectification_items
BEGIN
    INSERT INTO population_refresh (subject_id)
    SELECT DISTINCT subject_id FROM list_entries WHERE scope_item_id = NEW.item_id;
END;
CREATE TRIGGER special_items_population_ad AFTER DELETE ON special_rectification_items
BEGIN
    INSERT INTO population_refresh (subject_id)
    SELECT DISTINCT subject_id FROM list_entries WHERE scope_item_id = OLD.item_id;
END;

CREATE TRIGGER commitments_population_ai AFTER INSERT ON commitments
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (NEW.subject_id);
END;
CREATE TRIGGER commitments_population_ad AFTER DELETE ON commitments
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (OLD.subject_id);
END;
CREATE TRIGGER commitments_population_au AFTER UPDATE OF subject_id, purpose, signed_at
ON commitments
BEGIN
    INSERT INTO population_refresh (subject_id) VALUES (OLD.subject_id);
    INSERT INTO population_refresh (subject_id)
    SELECT NEW.subject_id WHERE NEW.subject_id <> OLD.subject_id;
END;

-- Count what is already there.
INSERT INTO in_force_entry
    (sign, status, valid_from, valid_until, removal_date, region_code, department_id, source,
     list_type)
SELECT 1, status, valid_from, valid_until, removal_date, region_code, department_id, source,
       list_type
  FROM list_entries;
INSERT INTO population_refresh (subject_id)
SELECT DISTINCT subject_id FROM list_entries WHERE list_type = 'black';
