DROP TABLE receipt_log_tiles;
