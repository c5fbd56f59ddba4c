-- Receipts (核查记录) by region: one index led by the time of the check instead of one led by the
-- region. SQLite's write-ahead log writes whole pages, and an index led by the region has one
-- insertion point per region (eight in Tonghua), so every group commit of receipts rewrote about
-- 19 of its pages (SQLite rebalances neighbouring pages in the middle of an index). An index led by
-- the time grows only at its end. It replaces the index on the time alone, and holds the region so
-- that a region's receipts of a period (the usage statistics) are read from the index:
-- * a region's receipts of a period: a range of the index, the region compared inside it;
-- * a region's newest receipts (the list, page by page): the table read newest first;
-- * a region's count without a period (the list's total): the whole index read, linear in the
--   number of receipts (about 21 ms per 180,000; it was 2 ms through the region index).
-- PostgreSQL logs row changes, not pages, and keeps both indexes. See docs/performance.md.
DROP INDEX credit_checks_region_idx;
DROP INDEX credit_checks_time_idx;
CREATE INDEX credit_checks_time_region_idx ON credit_checks (checked_at, region_code);
