DROP TABLE check_days_counted;
DROP TABLE check_day_counts;
CREATE TABLE check_month_counts (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    field TEXT NOT NULL,
    caller_department_id INTEGER NOT NULL,
    advice TEXT NOT NULL,
    region_code TEXT NOT NULL,
    measures_applied TEXT NOT NULL,
    checks INTEGER NOT NULL CHECK (checks > 0),
    PRIMARY KEY (year, month, field, caller_department_id, advice, region_code, measures_applied)
);
CREATE TABLE check_months_counted (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    counted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (year, month)
);
