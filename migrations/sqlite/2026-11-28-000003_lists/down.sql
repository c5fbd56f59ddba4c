DROP TABLE objections;
DROP TABLE list_entries;
DROP TABLE subjects;
DROP TABLE four_list_links;
DROP TABLE four_list_item_versions;
DROP TABLE four_list_items;
DROP TABLE application_fields;
