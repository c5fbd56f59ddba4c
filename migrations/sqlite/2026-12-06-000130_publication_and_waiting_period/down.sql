ALTER TABLE four_list_item_versions DROP COLUMN repair_requires_credit_report;
ALTER TABLE repairs DROP COLUMN correction_date;
ALTER TABLE four_list_item_versions DROP COLUMN repair_waiting_from;
ALTER TABLE four_list_item_versions DROP COLUMN publicly_disclosed;
DELETE FROM repair_documents WHERE purpose = 'credit_report';
