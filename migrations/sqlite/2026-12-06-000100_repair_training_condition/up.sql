-- Repair conditions beyond proof of fulfilment and the commitment are data of each black scope item's
-- standard (国办发〔2025〕22号, NDRC Order No. 36 of 2025): repair training only where the standard says.
ALTER TABLE four_list_item_versions ADD COLUMN repair_requires_training BOOLEAN;
-- Black scope items stored before: no training condition (the rules in force require none by default).
UPDATE four_list_item_versions SET repair_requires_training = FALSE WHERE severity IS NOT NULL;
