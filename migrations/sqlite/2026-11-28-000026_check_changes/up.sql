-- Change log read by the credit-check index (src/checks/index.rs): triggers record every insert,
-- update and delete of the rows a check reads, so the in-memory index catches up exactly, whatever
-- code path made the change. Writes are serialised by the audit head (db::write_tx), so the id order
-- is the commit order. Old rows are pruned by the index; see docs/credit-checks.md.
CREATE TABLE check_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tbl TEXT NOT NULL,
    row_id INTEGER NOT NULL
);
CREATE TRIGGER list_entries_insert_changes AFTER INSERT ON list_entries BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('list_entries', NEW.id); END;
CREATE TRIGGER list_entries_update_changes AFTER UPDATE ON list_entries BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('list_entries', NEW.id); END;
CREATE TRIGGER list_entries_delete_changes AFTER DELETE ON list_entries BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('list_entries', OLD.id); END;
CREATE TRIGGER subjects_insert_changes AFTER INSERT ON subjects BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('subjects', NEW.id); END;
CREATE TRIGGER subjects_update_changes AFTER UPDATE ON subjects BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('subjects', NEW.id); END;
CREATE TRIGGER subjects_delete_changes AFTER DELETE ON subjects BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('subjects', OLD.id); END;
CREATE TRIGGER four_list_items_insert_changes AFTER INSERT ON four_list_items BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_items', NEW.id); END;
CREATE TRIGGER four_list_items_update_changes AFTER UPDATE ON four_list_items BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_items', NEW.id); END;
CREATE TRIGGER four_list_items_delete_changes AFTER DELETE ON four_list_items BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_items', OLD.id); END;
CREATE TRIGGER four_list_item_versions_insert_changes AFTER INSERT ON four_list_item_versions BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_item_versions', NEW.item_id); END;
CREATE TRIGGER four_list_item_versions_update_changes AFTER UPDATE ON four_list_item_versions BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_item_versions', NEW.item_id); END;
CREATE TRIGGER four_list_item_versions_delete_changes AFTER DELETE ON four_list_item_versions BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_item_versions', OLD.item_id); END;
CREATE TRIGGER four_list_links_insert_changes AFTER INSERT ON four_list_links BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_links', NEW.scope_item_id); END;
CREATE TRIGGER four_list_links_update_changes AFTER UPDATE ON four_list_links BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_links', NEW.scope_item_id); END;
CREATE TRIGGER four_list_links_delete_changes AFTER DELETE ON four_list_links BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('four_list_links', OLD.scope_item_id); END;
CREATE TRIGGER departments_insert_changes AFTER INSERT ON departments BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('departments', NEW.id); END;
CREATE TRIGGER departments_update_changes AFTER UPDATE ON departments BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('departments', NEW.id); END;
CREATE TRIGGER departments_delete_changes AFTER DELETE ON departments BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('departments', OLD.id); END;
CREATE TRIGGER application_fields_insert_changes AFTER INSERT ON application_fields BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('application_fields', 0); END;
CREATE TRIGGER application_fields_update_changes AFTER UPDATE ON application_fields BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('application_fields', 0); END;
CREATE TRIGGER application_fields_delete_changes AFTER DELETE ON application_fields BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('application_fields', 0); END;
