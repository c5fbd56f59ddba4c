DROP TABLE receipt_checkpoints;
DROP TABLE receipt_log_state;
DROP TABLE receipt_log_pending;
DROP TABLE receipt_log_leaves;
