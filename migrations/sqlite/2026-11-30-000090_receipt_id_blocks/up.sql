-- Receipt ids handed out in blocks (SQLite): each instance's receipt log reserves a block of ids
-- here before it acknowledges receipts, so instances sharing one database file never give two
-- receipts the same id while the receipts are still only in their logs (docs/credit-checks.md,
-- "The receipt log").
CREATE TABLE receipt_id_blocks (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    next_id INTEGER NOT NULL
);
INSERT INTO receipt_id_blocks (id, next_id)
SELECT 1, coalesce(max(id), 0) + 1 FROM credit_checks;
