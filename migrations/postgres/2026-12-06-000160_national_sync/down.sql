UPDATE list_entries SET removal_reason = 'revoked' WHERE removal_reason = 'source_removed';
ALTER TABLE list_entries DROP CONSTRAINT list_entries_removal_reason_check;
ALTER TABLE list_entries ADD CONSTRAINT list_entries_removal_reason_check CHECK (removal_reason IN
    ('expired', 'repaired', 'objection_upheld', 'revoked', 'standard_changed', 'black_listed_while_red'));
DROP TABLE national_entries;
DROP TABLE national_sources;
