DELETE FROM departments;
DELETE FROM regions;
