DROP TABLE receipt_id_blocks;
