ALTER TABLE credit_checks ADD FOREIGN KEY (subject_id) REFERENCES subjects (id);
