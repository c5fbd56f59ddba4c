-- 告知承诺 is offered for 资质认定 (qualification accreditation) as for other licences (the field was
-- seeded after the column); a city may switch it off (PATCH /api/v1/application-fields/{code}).
UPDATE application_fields SET notification_commitment = 1 WHERE code = 'qualification_accreditation';
