-- Credit checks (信用核查): every answer given to an approval system, stored as given (核查记录).
-- The receipt table itself is the record of a check (it is not copied into the audit trail; see
-- docs/credit-checks.md).
CREATE TABLE credit_checks (
    id INTEGER PRIMARY KEY NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    caller_user_id INTEGER NOT NULL REFERENCES users (id),
    caller_department_id INTEGER REFERENCES departments (id),
    field TEXT NOT NULL REFERENCES application_fields (code),
    reference TEXT,
    purpose TEXT,
    advice TEXT NOT NULL CHECK (advice IN ('restrict', 'green_channel', 'normal')),
    subject_key TEXT NOT NULL,
    subject_id INTEGER REFERENCES subjects (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    measure_ids TEXT NOT NULL,
    answer TEXT NOT NULL
);
CREATE INDEX credit_checks_caller_idx ON credit_checks (caller_user_id, id);
CREATE INDEX credit_checks_region_idx ON credit_checks (region_code, checked_at);
CREATE INDEX credit_checks_time_idx ON credit_checks (checked_at);
CREATE INDEX credit_checks_subject_idx ON credit_checks (subject_key);

-- What the approval system did with the answer (反馈): at most one per check.
CREATE TABLE check_feedback (
    check_id INTEGER PRIMARY KEY NOT NULL REFERENCES credit_checks (id),
    decision TEXT NOT NULL CHECK (decision IN ('approved', 'denied', 'approved_with_conditions')),
    measures_applied TEXT NOT NULL,
    note TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    idempotency_key TEXT,
    recorded_by INTEGER NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);

-- Subjects an approval system watches (事中事后监管). Organisations by their code in clear; ID numbers
-- only as the keyed lookup hash plus the encrypted code.
CREATE TABLE watches (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id),
    subject_key TEXT NOT NULL,
    subject_code TEXT NOT NULL,
    code_encrypted BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, subject_key)
);
CREATE INDEX watches_subject_idx ON watches (subject_key);

-- Notifications for watchers, written in the same transaction as the change they report; the id is
-- the cursor.
CREATE TABLE watch_notifications (
    id INTEGER PRIMARY KEY NOT NULL,
    watch_id INTEGER NOT NULL REFERENCES watches (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    entry_id INTEGER NOT NULL REFERENCES list_entries (id),
    event TEXT NOT NULL CHECK (event IN ('published', 'removed', 'expired')),
    list_type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    UNIQUE (watch_id, entry_id, event)
);
CREATE INDEX watch_notifications_user_idx ON watch_notifications (user_id, id);
