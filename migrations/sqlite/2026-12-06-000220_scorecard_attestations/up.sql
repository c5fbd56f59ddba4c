-- Evaluation-table (附件2) indicators no record of the service can prove: a bureau records the
-- evidence it saw (a document, a date, a note, optionally an uploaded attachment) and the points
-- it awards, for one department or one county/district/zone, one year and quarter. A correction is
-- a new row; the row it replaces keeps its content and points to it (`superseded_by`).
CREATE TABLE scorecard_attestations (
    id INTEGER PRIMARY KEY NOT NULL,
    indicator TEXT NOT NULL,
    department_id INTEGER REFERENCES departments (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    year INTEGER NOT NULL,
    quarter INTEGER NOT NULL CHECK (quarter BETWEEN 1 AND 4),
    -- Tenths of a point (the table's smallest step is 0.2), 0 up to the indicator's maximum.
    points_tenths INTEGER NOT NULL CHECK (points_tenths >= 0),
    document_title TEXT NOT NULL,
    document_number TEXT,
    document_date DATE NOT NULL,
    note TEXT,
    attachment_id INTEGER REFERENCES attachments (id),
    recorded_by INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    superseded_by INTEGER REFERENCES scorecard_attestations (id),
    superseded_at TIMESTAMP
);
CREATE INDEX scorecard_attestations_subject
    ON scorecard_attestations (year, indicator, region_code, department_id);
