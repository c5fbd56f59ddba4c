ALTER TABLE credit_checks ADD FOREIGN KEY (caller_user_id) REFERENCES users (id);
ALTER TABLE credit_checks ADD FOREIGN KEY (caller_department_id) REFERENCES departments (id);
ALTER TABLE credit_checks ADD FOREIGN KEY (field) REFERENCES application_fields (code);
ALTER TABLE credit_checks ADD FOREIGN KEY (region_code) REFERENCES regions (code);
