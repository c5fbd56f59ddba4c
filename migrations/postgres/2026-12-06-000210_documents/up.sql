-- Documents ready to print (issue 24): each issued document is stored as the exact HTML it was
-- rendered as (personal ID numbers masked), so a reprint is byte-identical, with its number from a
-- per-department, per-year, per-kind sequence. The sequence row is updated inside the issuing
-- transaction: a rollback leaves no gap.
CREATE TABLE document_sequences (
  department_id INTEGER NOT NULL REFERENCES departments(id),
  year INTEGER NOT NULL,
  kind TEXT NOT NULL,
  last_number INTEGER NOT NULL,
  PRIMARY KEY (department_id, year, kind)
);

CREATE TABLE documents (
  id SERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  -- What the document was made from: a receipt (credit_checks.id), a repair step
  -- (repair_steps.id) or a list entry (list_entries.id), by kind.
  source_id INTEGER NOT NULL,
  department_id INTEGER NOT NULL REFERENCES departments(id),
  region_code TEXT NOT NULL,
  year INTEGER NOT NULL,
  number INTEGER NOT NULL,
  document_number TEXT NOT NULL,
  issued_on DATE NOT NULL,
  issued_at TIMESTAMP NOT NULL,
  issued_by INTEGER NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  content TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  UNIQUE (kind, source_id),
  UNIQUE (department_id, year, kind, number)
);
