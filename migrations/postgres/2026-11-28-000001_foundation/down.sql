DROP TABLE audit_log;
DROP TABLE audit_head;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE departments;
DROP TABLE regions;
