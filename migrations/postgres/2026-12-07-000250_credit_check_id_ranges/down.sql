DROP TABLE credit_check_id_ranges;
