DROP TABLE receipt_log_archived;
DROP TABLE receipt_archives;
