-- The list standard's publication flag and the start of the repair waiting period, versioned with
-- each black-list scope item. Minor-tier (轻微) information is normally not published
-- (国办发〔2025〕22号), so stored minor items become unpublished; every other black item stays
-- published. Waiting periods stored so far counted from the determination date.
ALTER TABLE four_list_item_versions ADD COLUMN publicly_disclosed BOOLEAN;
ALTER TABLE four_list_item_versions ADD COLUMN repair_waiting_from TEXT;
-- Whether the standard asks for a credit report (信用报告) among the repair materials: none did.
ALTER TABLE four_list_item_versions ADD COLUMN repair_requires_credit_report BOOLEAN;
UPDATE four_list_item_versions SET publicly_disclosed = (severity <> 'minor'),
    repair_waiting_from = 'determination', repair_requires_credit_report = FALSE
  WHERE item_id IN (SELECT id FROM four_list_items WHERE kind = 'black_scope');
-- The day the subject corrected its conduct (纠正失信行为之日), given with a repair application
-- when the entry's standard counts the waiting period from it.
ALTER TABLE repairs ADD COLUMN correction_date DATE;
-- A credit report (信用报告) is a kind of repair document of its own.
ALTER TABLE repair_documents DROP CONSTRAINT repair_documents_purpose_check;
ALTER TABLE repair_documents ADD CONSTRAINT repair_documents_purpose_check
    CHECK (purpose IN ('correction', 'obligations', 'credit_report', 'other'));
