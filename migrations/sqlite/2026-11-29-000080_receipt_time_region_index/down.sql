DROP INDEX credit_checks_time_region_idx;
CREATE INDEX credit_checks_time_idx ON credit_checks (checked_at);
CREATE INDEX credit_checks_region_idx ON credit_checks (region_code, checked_at);
