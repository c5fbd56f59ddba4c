-- Fields where measures apply (领域): a managed vocabulary, extendable by admins.
CREATE TABLE application_fields (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO application_fields (code, name) VALUES
    ('administrative_licensing', '行政许可'),
    ('government_procurement', '政府采购'),
    ('bidding', '招标投标'),
    ('fiscal_funds', '财政资金和补贴'),
    ('honours', '评优评先和表彰'),
    ('public_recruitment', '公职人员招录'),
    ('market_access', '市场准入'),
    ('supervision', '日常监管和检查');

-- Four-list items (信用"四张清单"): the item's identity and lifecycle; content lives in versions.
CREATE TABLE four_list_items (
    id INTEGER PRIMARY KEY NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (id),
    kind TEXT NOT NULL CHECK (kind IN ('red_scope', 'black_scope', 'incentive_measures', 'punishment_measures')),
    code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'repealed')),
    latest_version INTEGER NOT NULL,
    published_version INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    repealed_at TIMESTAMP,
    UNIQUE (department_id, code)
);
CREATE INDEX four_list_items_kind_idx ON four_list_items (kind, status);

-- Every version of an item's content. A published version is never edited: a change is a new version.
CREATE TABLE four_list_item_versions (
    item_id INTEGER NOT NULL REFERENCES four_list_items (id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'superseded', 'repealed')),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    subject_kinds TEXT NOT NULL,
    fields TEXT NOT NULL,
    implementing_departments TEXT NOT NULL,
    linked_scope_items TEXT NOT NULL,
    severity TEXT CHECK (severity IN ('minor', 'general', 'serious', 'specific_serious')),
    publication_months_min INTEGER,
    publication_months_max INTEGER,
    repair_after_months INTEGER,
    repairable BOOLEAN,
    validity_months INTEGER,
    created_at TIMESTAMP NOT NULL,
    created_by INTEGER,
    published_at TIMESTAMP,
    PRIMARY KEY (item_id, version)
);

-- Scope → measure links of the published versions (what follows for subjects listed under a scope).
CREATE TABLE four_list_links (
    measure_item_id INTEGER NOT NULL REFERENCES four_list_items (id),
    scope_item_id INTEGER NOT NULL REFERENCES four_list_items (id),
    PRIMARY KEY (measure_item_id, scope_item_id)
);
CREATE INDEX four_list_links_scope_idx ON four_list_links (scope_item_id);

-- Subjects (主体). Organisations are found by their unified social credit code in clear; individuals
-- by a keyed hash of the ID number, which itself is stored only encrypted.
CREATE TABLE subjects (
    id INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('enterprise', 'individual', 'other_organisation')),
    lookup_key TEXT NOT NULL UNIQUE,
    uscc TEXT UNIQUE,
    id_number_enc TEXT,
    id_number_masked TEXT,
    name TEXT NOT NULL,
    region_code TEXT REFERENCES regions (code),
    code_flagged BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX subjects_name_idx ON subjects (name);

-- Red and black list entries (红黑名单).
CREATE TABLE list_entries (
    id INTEGER PRIMARY KEY NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    list_type TEXT NOT NULL CHECK (list_type IN ('red', 'black')),
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'removed')),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    scope_item_id INTEGER NOT NULL REFERENCES four_list_items (id),
    scope_item_version INTEGER NOT NULL,
    subject_name TEXT NOT NULL,
    legal_representative TEXT,
    legal_representative_id_enc TEXT,
    legal_representative_id_masked TEXT,
    document_number TEXT NOT NULL,
    determination_date DATE NOT NULL,
    valid_from DATE NOT NULL,
    valid_until DATE NOT NULL,
    facts TEXT NOT NULL,
    internal_note TEXT,
    source TEXT NOT NULL CHECK (source IN ('local', 'national')),
    objection_open BOOLEAN NOT NULL DEFAULT FALSE,
    removal_reason TEXT CHECK (removal_reason IN ('expired', 'repaired', 'objection_upheld', 'revoked', 'standard_changed', 'black_listed_while_red')),
    removal_date DATE,
    removal_note TEXT,
    removed_at TIMESTAMP,
    published_at TIMESTAMP,
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (department_id, document_number, subject_id, list_type)
);
CREATE INDEX list_entries_subject_idx ON list_entries (subject_id, list_type, status);
CREATE INDEX list_entries_dept_idx ON list_entries (department_id, status);
CREATE INDEX list_entries_region_idx ON list_entries (region_code, list_type, status);
CREATE INDEX list_entries_valid_idx ON list_entries (valid_until);

-- Objections (异议) to entries.
CREATE TABLE objections (
    id INTEGER PRIMARY KEY NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES list_entries (id),
    raised_by TEXT NOT NULL,
    grounds TEXT NOT NULL,
    received_date DATE NOT NULL,
    accept_deadline DATE NOT NULL,
    verify_deadline DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'upheld', 'dismissed')),
    resolution_reason TEXT,
    resolved_at TIMESTAMP,
    resolved_by INTEGER,
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX objections_entry_idx ON objections (entry_id);
