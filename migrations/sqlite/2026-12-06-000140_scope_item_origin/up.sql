-- Who sets a red or black list (its origin): `national` for lists a national authority sets (the
-- courts' 失信被执行人, tax's 重大税收违法失信主体 ...), `local` for the city's own. A local black list
-- must rest on a law, administrative regulation, departmental rule or local regulation
-- (国办发〔2020〕49号 (六)). Scope items stored before are taken as local, the safe reading: those
-- without a sufficient legal basis are flagged until a new version is published.
ALTER TABLE four_list_item_versions ADD COLUMN origin TEXT;
UPDATE four_list_item_versions SET origin = 'local'
  WHERE item_id IN (SELECT id FROM four_list_items WHERE kind IN ('red_scope', 'black_scope'));
