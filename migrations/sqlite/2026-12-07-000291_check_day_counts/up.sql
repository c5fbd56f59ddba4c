-- The usage statistics of credit checks (GET /api/v1/credit-checks/stats) are kept per day
-- (UTC+8) instead of per month (000290): a month's or a year's figures read the kept rows of its
-- ended days, and only the current day is counted from the receipts on each request. Counting
-- the month still running from its receipts took more than a second past about 1,500,000
-- receipts (docs/performance.md, "Seventeenth round"), and counting an ended month at once held
-- SQLite's write lock for seconds; a day is a thirtieth of either. The kept month counts are
-- derived data: they are dropped and the days counted again when next asked for.
--
-- One row per group of the day's receipts with the same field, caller department (0: none),
-- advice, region and feedback's applied measures ('': no feedback; '[]': feedback applying
-- none), and how many receipts it holds (docs/credit-checks.md, "Usage statistics"). The PostgreSQL
-- migration of the same name holds the same.
DROP TABLE check_months_counted;
DROP TABLE check_month_counts;
CREATE TABLE check_day_counts (
    day DATE NOT NULL,
    field TEXT NOT NULL,
    caller_department_id INTEGER NOT NULL,
    advice TEXT NOT NULL,
    region_code TEXT NOT NULL,
    measures_applied TEXT NOT NULL,
    checks INTEGER NOT NULL CHECK (checks > 0),
    PRIMARY KEY (day, field, caller_department_id, advice, region_code, measures_applied)
);
-- The days counted (a day with no receipt has a row here and none above).
CREATE TABLE check_days_counted (
    day DATE PRIMARY KEY,
    counted_at TIMESTAMP NOT NULL
);
