-- Section 九's "still listed on D" (special-rectification objects with a black entry under a
-- marked scope item in force on D) kept as day deltas, like every other figure of the year-end
-- targets report (docs/targets.md, "How the figures are counted"); the PostgreSQL migration of
-- the same name holds the same definitions and explains them.

-- A subject's stretches per counting unit: [from_day, stop_day), stop_day being the first day
-- it is no longer listed there.
CREATE TABLE special_listed_spans (
    subject_id INTEGER NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    from_day DATE NOT NULL,
    stop_day DATE NOT NULL,
    PRIMARY KEY (subject_id, grouping, unit, from_day)
) WITHOUT ROWID;
CREATE TABLE special_listed_days (
    day DATE NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, grouping, unit)
) WITHOUT ROWID;
CREATE TABLE special_listed_months (
    month DATE NOT NULL,
    grouping TEXT NOT NULL,
    unit TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (month, grouping, unit)
) WITHOUT ROWID;

CREATE TRIGGER special_listed_spans_ai AFTER INSERT ON special_listed_spans
BEGIN
    INSERT INTO special_listed_days (day, grouping, unit, n)
    VALUES (NEW.from_day, NEW.grouping, NEW.unit, 1), (NEW.stop_day, NEW.grouping, NEW.unit, -1)
    ON CONFLICT (day, grouping, unit) DO UPDATE SET n = n + excluded.n;
    INSERT INTO special_listed_months (month, grouping, unit, n)
    VALUES (substr(NEW.from_day, 1, 8) || '01', NEW.grouping, NEW.unit, 1),
           (substr(NEW.stop_day, 1, 8) || '01', NEW.grouping, NEW.unit, -1)
    ON CONFLICT (month, grouping, unit) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER special_listed_spans_ad AFTER DELETE ON special_listed_spans
BEGIN
    INSERT INTO special_listed_days (day, grouping, unit, n)
    VALUES (OLD.from_day, OLD.grouping, OLD.unit, -1), (OLD.stop_day, OLD.grouping, OLD.unit, 1)
    ON CONFLICT (day, grouping, unit) DO UPDATE SET n = n + excluded.n;
    INSERT INTO special_listed_months (month, grouping, unit, n)
    VALUES (substr(OLD.from_day, 1, 8) || '01', OLD.grouping, OLD.unit, -1),
           (substr(OLD.stop_day, 1, 8) || '01', OLD.grouping, OLD.unit, 1)
    ON CONFLICT (month, grouping, unit) DO UPDATE SET n = n + excluded.n;
END;

-- Recounts one subject's stretches: its marked, published black entries' in-force intervals
-- per unit, merged where they overlap or touch (gaps and islands: an interval starts a stretch
-- when it begins after every earlier one has stopped).
CREATE VIEW special_listed_refresh AS SELECT subject_id FROM special_listed_spans WHERE 0;
CREATE TRIGGER special_listed_refresh_apply INSTEAD OF INSERT ON special_listed_refresh
BEGIN
    DELETE FROM special_listed_spans WHERE subject_id = NEW.subject_id;
    INSERT INTO special_listed_spans (subject_id, grouping, unit, from_day, stop_day)
    SELECT NEW.subject_id, grouping, unit, MIN(a), MAX(b)
      FROM (SELECT grouping, unit, a, b,
                   SUM(starts) OVER (PARTITION BY grouping, unit ORDER BY a, b
                                     ROWS UNBOUNDED PRECEDING) AS island
              FROM (SELECT grouping, unit, a, b,
                           CASE WHEN a <= MAX(b) OVER (PARTITION BY grouping, unit
                                                       ORDER BY a, b ROWS BETWEEN UNBOUNDED
                                                       PRECEDING AND 1 PRECEDING)
                                THEN 0 ELSE 1 END AS starts
                      FROM (SELECT g.grouping,
                                   CASE g.grouping
                                       WHEN 'city' THEN '220500'
                                       WHEN 'region' THEN e.region_code
                                       WHEN 'department' THEN CAST(e.department_id AS TEXT)
                                       ELSE e.region_code || '/' || e.department_id
                                   END AS unit,
                                   e.valid_from AS a,
                                   CASE WHEN e.removal_date IS NOT NULL
                                             AND e.removal_date <= e.valid_until
                                        THEN e.removal_date
                                        ELSE date(e.valid_until, '+1 day') END AS b
                              FROM list_entries e
                              JOIN special_rectification_items sp ON sp.item_id = e.scope_item_id
                              JOIN (SELECT 'city' AS grouping UNION ALL SELECT 'region'
                                    UNION ALL SELECT 'department'
                                    UNION ALL SELECT 'region_department') g
                             WHERE e.subject_id = NEW.subject_id
                               AND e.list_type = 'black'
                               AND e.status <> 'draft') iv
                     WHERE a < b) marked) islands
     GROUP BY grouping, unit, island;
END;

-- Every recount of a subject's populations recounts its stretches too.
CREATE TRIGGER special_listed_population_refresh INSTEAD OF INSERT ON population_refresh
BEGIN
    INSERT INTO special_listed_refresh (subject_id) VALUES (NEW.subject_id);
END;

-- Count what is already there.
INSERT INTO special_listed_refresh (subject_id)
SELECT DISTINCT e.subject_id
  FROM list_entries e JOIN special_rectification_items sp ON sp.item_id = e.scope_item_id
 WHERE e.list_type = 'black';
