ALTER TABLE commitments DROP COLUMN licence_reference;
ALTER TABLE commitments DROP COLUMN check_id;
ALTER TABLE application_fields DROP COLUMN notification_commitment;
