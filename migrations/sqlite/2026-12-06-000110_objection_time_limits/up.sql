-- Objection time limits (异议受理, 核实) belong to each scope item's standard, in working days. Scope
-- items stored before get the limits that applied to them until now (2 and 10).
ALTER TABLE four_list_item_versions ADD COLUMN objection_accept_days INTEGER;
ALTER TABLE four_list_item_versions ADD COLUMN objection_verify_days INTEGER;
UPDATE four_list_item_versions SET objection_accept_days = 2, objection_verify_days = 10
  WHERE item_id IN (SELECT id FROM four_list_items WHERE kind IN ('red_scope', 'black_scope'));
