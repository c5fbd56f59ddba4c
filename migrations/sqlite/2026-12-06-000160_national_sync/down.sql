UPDATE list_entries SET removal_reason = 'revoked' WHERE removal_reason = 'source_removed';
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, '''black_listed_while_red'', ''source_removed'')', '''black_listed_while_red'')')
  WHERE type = 'table' AND name = 'list_entries';
PRAGMA writable_schema = RESET;
DROP TABLE national_entries;
DROP TABLE national_sources;
