-- The import that created an entry (imports that stream write one audit record per import, naming
-- its entries; an entry's history finds that record through this id).
ALTER TABLE list_entries ADD COLUMN import_id TEXT;
