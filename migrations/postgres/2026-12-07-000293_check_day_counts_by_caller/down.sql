DROP TABLE check_day_counts;
DELETE FROM check_days_counted;
CREATE TABLE check_day_counts (
    day DATE NOT NULL,
    field TEXT NOT NULL,
    caller_department_id INTEGER NOT NULL,
    advice TEXT NOT NULL,
    region_code TEXT NOT NULL,
    measures_applied TEXT NOT NULL,
    checks BIGINT NOT NULL CHECK (checks > 0),
    PRIMARY KEY (day, field, caller_department_id, advice, region_code, measures_applied)
);
