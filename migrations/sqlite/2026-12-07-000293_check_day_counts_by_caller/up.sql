-- The kept day counts of the credit checks' usage statistics (000291) gain the checking account
-- (caller_user_id), so that the staff receipt list's total under `caller=` adds up kept days
-- instead of counting every receipt of the account (GET /api/v1/credit-checks; docs/
-- credit-checks.md, "The list's total"). The usage statistics add the accounts' rows up as
-- before. The kept counts are derived data: they are dropped, and the days are counted again
-- (the last 31 at start, older days a month an hour, or by the first request that needs them).
-- The PostgreSQL migration of the same name holds the same.
DROP TABLE check_day_counts;
DELETE FROM check_days_counted;
CREATE TABLE check_day_counts (
    day DATE NOT NULL,
    field TEXT NOT NULL,
    caller_department_id INTEGER NOT NULL,
    advice TEXT NOT NULL,
    region_code TEXT NOT NULL,
    measures_applied TEXT NOT NULL,
    caller_user_id INTEGER NOT NULL,
    checks INTEGER NOT NULL CHECK (checks > 0),
    PRIMARY KEY (day, field, caller_department_id, advice, region_code, measures_applied,
                 caller_user_id)
);
