DROP TABLE feed_delivery;
DROP TABLE monthly_snapshots;
DROP TABLE case_media_reports;
DROP TABLE case_departments;
DROP TABLE case_measures;
DROP TABLE case_entries;
DROP TABLE case_subjects;
DROP TABLE cases;
