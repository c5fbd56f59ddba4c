-- Reads of a receipt by id touch one month or a few, not every month's partition (issue 25).
--
-- `credit_checks` is partitioned by month on `checked_at` and its ids come from one sequence, so a
-- month that has ended holds a fixed range of ids. Partition maintenance (`checks::partitions`)
-- records each ended month's smallest and largest id here (both NULL for a month without
-- receipts); a read by id looks the id up and adds a `checked_at` range the planner prunes on.
-- The current month, the months ahead and the default partition have no row here and stay
-- candidates. A read that finds nothing in its range probes every partition, so an answer stays
-- exact whatever this table says (a receipt committed into a month after it was recorded, a clock
-- far off).
CREATE TABLE credit_check_id_ranges (
    month DATE PRIMARY KEY,
    min_id INTEGER,
    max_id INTEGER,
    recorded_at TIMESTAMP NOT NULL,
    CHECK ((min_id IS NULL) = (max_id IS NULL) AND min_id <= max_id)
);
