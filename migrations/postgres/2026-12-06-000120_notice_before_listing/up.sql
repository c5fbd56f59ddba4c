-- Notice before listing (告知, 陈述申辩; 国办发〔2020〕49号 (八)): when a subject was told of an
-- intended black-list identification, and the outcome of its statement. Entries stored before keep
-- NULL: they were published under the old rules and stay as they are.
ALTER TABLE list_entries ADD COLUMN notice_date DATE;
ALTER TABLE list_entries ADD COLUMN statement_outcome TEXT;
