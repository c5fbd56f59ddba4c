-- Receipts waiting for the receipt log kept as runs of consecutive ids, written by the database
-- itself (issue 25; docs/credit-checks.md, "The receipt log").
--
-- Until now the receipt writer inserted one `receipt_log_pending` row per receipt, in its group's
-- transaction (BEGIN, the ids-and-pending statement, COPY, COMMIT), and the sequencer read each
-- pending receipt back by id alone, which probes the primary-key index of every monthly
-- partition. Now:
-- - a statement trigger on `credit_checks` records each statement's new receipts as runs of
--   consecutive ids with the time span they were checked in, in the inserting statement itself
--   (so a receipt is committed if and only if it is pending or already sequenced, whatever
--   inserts it);
-- - the writer takes ids ahead from the identity sequence and sends each group as one COPY, a
--   transaction by itself;
-- - the sequencer reads a run's receipts by id range within its time span, which the planner
--   prunes to the month or two that hold them.

CREATE TABLE receipt_log_pending_runs (
    first_id INTEGER PRIMARY KEY NOT NULL,
    last_id INTEGER NOT NULL,
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    CHECK (first_id <= last_id AND first_at <= last_at)
);

-- The receipts pending now, as runs. An id whose receipt row is gone (it could not be sequenced
-- before either: the sequencer leaves it pending and reports it) keeps a run of its own with
-- a span wide enough for any partition, so it is still reported.
INSERT INTO receipt_log_pending_runs (first_id, last_id, first_at, last_at)
SELECT min(id), max(id),
       coalesce(min(checked_at), TIMESTAMP '2000-01-01'),
       coalesce(max(checked_at), TIMESTAMP '2999-12-31')
FROM (
    SELECT p.check_id AS id, c.checked_at,
           p.check_id - row_number() OVER (PARTITION BY c.id IS NULL ORDER BY p.check_id) AS run,
           c.id IS NULL AS gone
    FROM receipt_log_pending p LEFT JOIN credit_checks c ON c.id = p.check_id
) r
GROUP BY run, gone, CASE WHEN gone THEN id END;

DROP TABLE receipt_log_pending;
ALTER TABLE receipt_log_pending_runs RENAME TO receipt_log_pending;
ALTER INDEX receipt_log_pending_runs_pkey RENAME TO receipt_log_pending_pkey;

CREATE FUNCTION credit_checks_pending_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO receipt_log_pending (first_id, last_id, first_at, last_at)
    SELECT min(id), max(id), min(checked_at), max(checked_at)
    FROM (SELECT id, checked_at, id - row_number() OVER (ORDER BY id) AS run
          FROM new_receipts) r
    GROUP BY run;
    RETURN NULL;
END $$;

CREATE TRIGGER credit_checks_pending_runs AFTER INSERT ON credit_checks
    REFERENCING NEW TABLE AS new_receipts
    FOR EACH STATEMENT EXECUTE FUNCTION credit_checks_pending_runs();
