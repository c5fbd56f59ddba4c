-- Heads of complete subtrees of the receipt log (RFC 9162 trees; docs/credit-checks.md, "The
-- receipt log"): the root of leaves [tile_index * 2^height, (tile_index + 1) * 2^height), kept
-- for heights 8 and 16 once first needed, so that an inclusion proof reads a few thousand hashes
-- rather than every leaf. Derived from receipt_log_leaves (append-only, so a complete subtree
-- never changes); `credit-lists receipt audit` recomputes and compares them.
CREATE TABLE receipt_log_tiles (
    height INTEGER NOT NULL,
    tile_index BIGINT NOT NULL,
    -- hex
    hash TEXT NOT NULL,
    PRIMARY KEY (height, tile_index)
);
