-- 告知承诺 (notification and commitment): whether a field offers the procedure.
ALTER TABLE application_fields ADD COLUMN notification_commitment BOOLEAN NOT NULL DEFAULT false;
UPDATE application_fields SET notification_commitment = true
    WHERE code IN ('administrative_licensing', 'market_access');
-- A pre-licensing letter recorded by an approval system: the check it follows, the licence.
ALTER TABLE commitments ADD COLUMN check_id INTEGER;
ALTER TABLE commitments ADD COLUMN licence_reference TEXT;
