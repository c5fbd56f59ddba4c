DROP TABLE receipt_log_pending;
CREATE TABLE receipt_log_pending (
    check_id INTEGER PRIMARY KEY NOT NULL
);
