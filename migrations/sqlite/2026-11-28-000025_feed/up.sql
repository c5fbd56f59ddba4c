-- Outbox of events for the provincial platform (共享至省平台). Each row is written in the same
-- transaction as the change it reports. Audited write transactions are serialised (they all take
-- the audit chain head first), so the id order is the commit order and the id is the cursor.
CREATE TABLE feed_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    event_type TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    region_code TEXT REFERENCES regions (code),
    department_id INTEGER REFERENCES departments (id),
    payload TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX feed_events_type_idx ON feed_events (event_type, id);
