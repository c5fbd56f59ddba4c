UPDATE application_fields SET notification_commitment = FALSE WHERE code = 'qualification_accreditation';
