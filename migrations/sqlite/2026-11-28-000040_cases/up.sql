-- Reward-and-punishment cases (联合奖惩案例). Lifecycle draft → submitted → shared; a shared case is
-- never edited: a correction is a new draft linked by corrects_case_id.
CREATE TABLE cases (
    id INTEGER PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reward', 'punishment')),
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'shared')),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    field TEXT NOT NULL REFERENCES application_fields (code),
    case_date DATE NOT NULL,
    summary TEXT NOT NULL,
    submitted_at TIMESTAMP,
    shared_at TIMESTAMP,
    corrects_case_id INTEGER REFERENCES cases (id),
    source_check_id INTEGER REFERENCES credit_checks (id),
    idempotency_key TEXT,
    request_hash TEXT,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (created_by, idempotency_key)
);
CREATE INDEX cases_department_idx ON cases (department_id, status);
CREATE INDEX cases_region_idx ON cases (region_code, status);
CREATE INDEX cases_submitted_idx ON cases (submitted_at);
CREATE INDEX cases_shared_idx ON cases (shared_at);
CREATE INDEX cases_date_idx ON cases (case_date);

CREATE TABLE case_subjects (
    case_id INTEGER NOT NULL REFERENCES cases (id),
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    PRIMARY KEY (case_id, subject_id)
);
CREATE INDEX case_subjects_subject_idx ON case_subjects (subject_id);

CREATE TABLE case_entries (
    case_id INTEGER NOT NULL REFERENCES cases (id),
    entry_id INTEGER NOT NULL REFERENCES list_entries (id),
    PRIMARY KEY (case_id, entry_id)
);
CREATE INDEX case_entries_entry_idx ON case_entries (entry_id);

-- The measures applied, with the version of the measure item in force when the case was filed.
CREATE TABLE case_measures (
    case_id INTEGER NOT NULL REFERENCES cases (id),
    measure_item_id INTEGER NOT NULL REFERENCES four_list_items (id),
    measure_version INTEGER NOT NULL,
    PRIMARY KEY (case_id, measure_item_id)
);

-- Departments that took part (the filing department is always one of them).
CREATE TABLE case_departments (
    case_id INTEGER NOT NULL REFERENCES cases (id),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    PRIMARY KEY (case_id, department_id)
);
CREATE INDEX case_departments_department_idx ON case_departments (department_id);

CREATE TABLE case_media_reports (
    id INTEGER PRIMARY KEY NOT NULL,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    outlet TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('city', 'provincial', 'national')),
    report_date DATE NOT NULL,
    link TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_media_reports_case_idx ON case_media_reports (case_id);
CREATE INDEX case_media_reports_date_idx ON case_media_reports (report_date);

-- Closed months (按月统计): the figures frozen when a bureau closed the month for its region.
CREATE TABLE monthly_snapshots (
    id INTEGER PRIMARY KEY NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    year INTEGER NOT NULL,
    month INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    figures TEXT NOT NULL,
    closed_at TIMESTAMP NOT NULL,
    closed_by INTEGER NOT NULL REFERENCES users (id),
    UNIQUE (region_code, year, month)
);

-- Delivery state of the push to the provincial platform: one row per target. The lease decides which
-- instance pushes; last_delivered_id is the resume point.
CREATE TABLE feed_delivery (
    target TEXT PRIMARY KEY NOT NULL,
    last_delivered_id BIGINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_attempt_at TIMESTAMP,
    last_success_at TIMESTAMP,
    lease_holder TEXT,
    lease_expires_at TIMESTAMP
);

-- The one push target; the worker only ever updates this row.
INSERT INTO feed_delivery (target) VALUES ('province');
