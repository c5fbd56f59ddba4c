-- Credit repair (信用修复): commitment letters, repair training, public-service records, proof
-- documents and the two-level review. See docs/repair.md.

-- Proof documents, stored in the database (backed up and rolled back with everything else).
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    department_id INTEGER REFERENCES departments (id),
    region_code TEXT REFERENCES regions (code),
    uploaded_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);

-- Standard commitment-letter templates (标准化信用承诺书), versioned like four-list items.
CREATE TABLE commitment_templates (
    id INTEGER PRIMARY KEY NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('pre_licensing', 'repair')),
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'withdrawn')),
    latest_version INTEGER NOT NULL,
    published_version INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
CREATE INDEX commitment_templates_dept_idx ON commitment_templates (department_id, status);

CREATE TABLE commitment_template_versions (
    template_id INTEGER NOT NULL REFERENCES commitment_templates (id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by INTEGER REFERENCES users (id),
    published_at TIMESTAMP,
    PRIMARY KEY (template_id, version)
);

-- Signed commitment letters (信用承诺书): the text as signed and its SHA-256.
CREATE TABLE commitments (
    id INTEGER PRIMARY KEY NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    template_id INTEGER NOT NULL REFERENCES commitment_templates (id),
    template_version INTEGER NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('pre_licensing', 'repair')),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    signatory TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL,
    text_snapshot TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    attachment_id INTEGER REFERENCES attachments (id),
    valid_until DATE,
    recorded_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX commitments_subject_idx ON commitments (subject_id, purpose);
CREATE INDEX commitments_dept_idx ON commitments (department_id);

-- Breaches of a commitment (违诺).
CREATE TABLE commitment_breaches (
    id INTEGER PRIMARY KEY NOT NULL,
    commitment_id INTEGER NOT NULL REFERENCES commitments (id),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    breach_date DATE NOT NULL,
    facts TEXT NOT NULL,
    recorded_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX commitment_breaches_commitment_idx ON commitment_breaches (commitment_id);

-- Repair training sessions (信用修复培训) and who attended.
CREATE TABLE training_sessions (
    id INTEGER PRIMARY KEY NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    session_date DATE NOT NULL,
    form TEXT NOT NULL CHECK (form IN ('online', 'offline')),
    topic TEXT NOT NULL,
    hours DOUBLE PRECISION NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX training_sessions_dept_idx ON training_sessions (department_id, session_date);

CREATE TABLE training_attendance (
    id INTEGER PRIMARY KEY NOT NULL,
    session_id INTEGER NOT NULL REFERENCES training_sessions (id),
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    attendee_name TEXT NOT NULL,
    completed BOOLEAN NOT NULL,
    certificate_number TEXT,
    recorded_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (session_id, subject_id)
);
CREATE INDEX training_attendance_subject_idx ON training_attendance (subject_id);

-- Public-service records of individuals (志愿服务 / 社会公益服务 / 扶贫帮困).
CREATE TABLE service_records (
    id INTEGER PRIMARY KEY NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    kind TEXT NOT NULL CHECK (kind IN ('volunteer', 'public_welfare', 'poverty_relief')),
    organisation TEXT NOT NULL,
    hours DOUBLE PRECISION NOT NULL,
    service_date DATE NOT NULL,
    proof_reference TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    recorded_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX service_records_subject_idx ON service_records (subject_id);

-- Repair applications (信用修复申请) and their history.
CREATE TABLE repairs (
    id INTEGER PRIMARY KEY NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    entry_id INTEGER NOT NULL REFERENCES list_entries (id),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    status TEXT NOT NULL CHECK (status IN ('submitted', 'returned', 'accepted', 'approved', 'refused', 'filed', 'sent_back', 'completed', 'withdrawn')),
    grounds TEXT NOT NULL,
    commitment_id INTEGER NOT NULL REFERENCES commitments (id),
    attendance_id INTEGER REFERENCES training_attendance (id),
    version INTEGER NOT NULL,
    deadline DATE,
    submitted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    created_by INTEGER NOT NULL REFERENCES users (id)
);
CREATE INDEX repairs_queue_idx ON repairs (status, deadline);
CREATE INDEX repairs_entry_idx ON repairs (entry_id);
CREATE INDEX repairs_region_idx ON repairs (region_code, status);

CREATE TABLE repair_documents (
    repair_id INTEGER NOT NULL REFERENCES repairs (id),
    attachment_id INTEGER NOT NULL REFERENCES attachments (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('correction', 'obligations', 'other')),
    PRIMARY KEY (repair_id, attachment_id)
);

CREATE TABLE repair_service_records (
    repair_id INTEGER NOT NULL REFERENCES repairs (id),
    service_record_id INTEGER NOT NULL REFERENCES service_records (id),
    PRIMARY KEY (repair_id, service_record_id)
);

CREATE TABLE repair_steps (
    id INTEGER PRIMARY KEY NOT NULL,
    repair_id INTEGER NOT NULL REFERENCES repairs (id),
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    comment TEXT,
    actor_user_id INTEGER NOT NULL REFERENCES users (id),
    at TIMESTAMP NOT NULL
);
CREATE INDEX repair_steps_repair_idx ON repair_steps (repair_id, id);

-- Commitments and breaches show in credit checks: tell the check index (see 000026).
CREATE TRIGGER commitments_insert_changes AFTER INSERT ON commitments BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('commitments', NEW.id); END;
CREATE TRIGGER commitments_update_changes AFTER UPDATE ON commitments BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('commitments', NEW.id); END;
CREATE TRIGGER commitment_breaches_insert_changes AFTER INSERT ON commitment_breaches BEGIN INSERT INTO check_changes (tbl, row_id) VALUES ('commitments', NEW.commitment_id); END;
