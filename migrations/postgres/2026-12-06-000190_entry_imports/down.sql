ALTER TABLE list_entries DROP COLUMN import_id;
