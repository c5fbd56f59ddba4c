-- Fields (领域) the 2019 plan (section 七) and the national joint-punishment memoranda name, so that a
-- county can use credit records in the 10 fields the plan asks for. The eight existing codes stay.
INSERT INTO application_fields (code, name, active) VALUES
    ('qualification_accreditation', '资质认定', TRUE),
    ('project_approval', '项目审批核准', TRUE),
    ('policy_support', '政策扶持', TRUE),
    ('public_institution_recruitment', '事业单位招聘', TRUE),
    ('cadre_selection', '干部选拔任用', TRUE),
    ('professional_qualification', '从业资格认定', TRUE),
    ('state_land_supply', '国有土地出让', TRUE),
    ('financing_credit', '融资授信', TRUE);

-- Departments keep the names they had (the plan's 2019 names) as former names (曾用名), newest
-- last, as a JSON array of strings.
ALTER TABLE departments ADD COLUMN former_names TEXT NOT NULL DEFAULT '[]';

-- Renamed since the 2019 plan: the PBoC's city central sub-branches became city branches (2024),
-- the CBIRC's branches became branches of the National Financial Regulatory Administration (2023).
UPDATE departments SET name = '中国人民银行通化市分行', former_names = '["人民银行通化市中心支行"]'
    WHERE id = 50 AND name = '人民银行通化市中心支行';
UPDATE departments SET name = '国家金融监督管理总局通化监管分局', former_names = '["银监会通化监管分局"]'
    WHERE id = 51 AND name = '银监会通化监管分局';
