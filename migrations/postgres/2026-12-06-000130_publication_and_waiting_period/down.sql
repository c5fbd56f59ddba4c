ALTER TABLE four_list_item_versions DROP COLUMN repair_requires_credit_report;
ALTER TABLE repairs DROP COLUMN correction_date;
ALTER TABLE four_list_item_versions DROP COLUMN repair_waiting_from;
ALTER TABLE four_list_item_versions DROP COLUMN publicly_disclosed;
DELETE FROM repair_documents WHERE purpose = 'credit_report';
ALTER TABLE repair_documents DROP CONSTRAINT repair_documents_purpose_check;
ALTER TABLE repair_documents ADD CONSTRAINT repair_documents_purpose_check
    CHECK (purpose IN ('correction', 'obligations', 'other'));
