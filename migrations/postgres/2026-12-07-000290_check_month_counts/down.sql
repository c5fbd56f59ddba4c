DROP TABLE check_months_counted;
DROP TABLE check_month_counts;
