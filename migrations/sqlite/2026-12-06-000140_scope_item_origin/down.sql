ALTER TABLE four_list_item_versions DROP COLUMN origin;
