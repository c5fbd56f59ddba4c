UPDATE departments SET name = '人民银行通化市中心支行' WHERE id = 50 AND name = '中国人民银行通化市分行';
UPDATE departments SET name = '银监会通化监管分局' WHERE id = 51 AND name = '国家金融监督管理总局通化监管分局';
ALTER TABLE departments DROP COLUMN former_names;
DELETE FROM application_fields WHERE code IN ('qualification_accreditation', 'project_approval',
    'policy_support', 'public_institution_recruitment', 'cadre_selection',
    'professional_qualification', 'state_land_supply', 'financing_credit');
