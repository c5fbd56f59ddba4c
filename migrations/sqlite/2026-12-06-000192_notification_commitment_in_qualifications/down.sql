UPDATE application_fields SET notification_commitment = 0 WHERE code = 'qualification_accreditation';
