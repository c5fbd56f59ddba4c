-- National sources (国家层面认定的名单来源): the court's 失信被执行人 keyed by 案号, the tax
-- administration's 重大税收违法失信主体 by the case's document number, market regulation's
-- 严重违法失信名单 by the decision number. Each is held locally by one department and its entries
-- cite one black-list scope item of that department.
CREATE TABLE national_sources (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    key_kind TEXT NOT NULL CHECK (key_kind IN ('case_number', 'document_number', 'decision_number')),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    scope_item_id INTEGER NOT NULL REFERENCES four_list_items (id),
    created_by INTEGER REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The source's key of each synced entry. One entry per key is active (not ended by the
-- source); an entry the source dropped keeps its key, and a key listed again makes a new entry.
-- `fingerprint` is a keyed hash (pii lookup key) of the row's normalised content, so a row that
-- did not change is told apart without decrypting anything.
CREATE TABLE national_entries (
    entry_id INTEGER PRIMARY KEY NOT NULL REFERENCES list_entries (id),
    source_id INTEGER NOT NULL REFERENCES national_sources (id),
    national_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    synced_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX national_entries_current_key ON national_entries (source_id, national_key) WHERE active;
CREATE INDEX national_entries_source_idx ON national_entries (source_id, active);
-- Removal reason source_removed (来源已移出): the national source no longer lists the entry.
-- SQLite cannot alter a CHECK constraint; widening one is a change that leaves the stored rows
-- as they are, made on the schema text (https://sqlite.org/lang_altertable.html, "making other
-- kinds of table schema changes"); RESET reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, '''black_listed_while_red'')', '''black_listed_while_red'', ''source_removed'')')
  WHERE type = 'table' AND name = 'list_entries';
PRAGMA writable_schema = RESET;
