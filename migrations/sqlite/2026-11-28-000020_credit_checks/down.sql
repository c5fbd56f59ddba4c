DROP TABLE watch_notifications;
DROP TABLE watches;
DROP TABLE check_feedback;
DROP TABLE credit_checks;
