ALTER TABLE list_entries DROP COLUMN statement_outcome;
ALTER TABLE list_entries DROP COLUMN notice_date;
