DROP TRIGGER credit_checks_pending_runs ON credit_checks;
DROP FUNCTION credit_checks_pending_runs();

CREATE TABLE receipt_log_pending_ids (
    check_id INTEGER PRIMARY KEY NOT NULL
);
INSERT INTO receipt_log_pending_ids (check_id)
SELECT g FROM receipt_log_pending, generate_series(first_id, last_id) AS g;
DROP TABLE receipt_log_pending;
ALTER TABLE receipt_log_pending_ids RENAME TO receipt_log_pending;
ALTER INDEX receipt_log_pending_ids_pkey RENAME TO receipt_log_pending_pkey;
