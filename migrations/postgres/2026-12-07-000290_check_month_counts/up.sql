-- The usage statistics of credit checks (GET /api/v1/credit-checks/stats) of a month that has
-- ended, kept once counted (docs/credit-checks.md, "Usage statistics"). Receipts are never
-- changed and a month that has ended receives none, so its counts change only when feedback on
-- one of its receipts arrives, which moves one receipt from one group to another in the same
-- transaction as the feedback. Counting a month of receipts again on every request read the
-- whole partition: 0.64–0.73 s warm and 1.3–1.4 s cold for 1,670,000 receipts, 15 s for a year
-- of 20,000,000 (docs/performance.md).
--
-- One row per group of the month's receipts with the same field, caller department (0: none),
-- advice, region and feedback's applied measures ('': no feedback; '[]': feedback applying
-- none), and how many receipts it holds. The SQLite migration of the same name holds the same.
CREATE TABLE check_month_counts (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    field TEXT NOT NULL,
    caller_department_id INTEGER NOT NULL,
    advice TEXT NOT NULL,
    region_code TEXT NOT NULL,
    measures_applied TEXT NOT NULL,
    checks BIGINT NOT NULL CHECK (checks > 0),
    PRIMARY KEY (year, month, field, caller_department_id, advice, region_code, measures_applied)
);
-- The months counted (a month with no receipt has a row here and none above).
CREATE TABLE check_months_counted (
    year INTEGER NOT NULL,
    month INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    counted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (year, month)
);
