-- Section 九 (失信问题专项治理): black-list scope items whose listed subjects are
-- special-rectification objects, with the category of the plan they fall under:
-- 失信被执行人, 重大税收违法案件当事人, 企业异常名录, 严重违法企业名单.
CREATE TABLE special_rectification_items (
    item_id INTEGER PRIMARY KEY NOT NULL REFERENCES four_list_items (id),
    category TEXT NOT NULL CHECK (category IN
        ('judgment_defaulter', 'major_tax_violation', 'abnormal_operation', 'serious_violation')),
    set_by INTEGER NOT NULL REFERENCES users (id),
    set_at TIMESTAMP NOT NULL
);
