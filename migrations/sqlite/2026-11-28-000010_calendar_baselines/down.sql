DROP TABLE national_baselines;
DROP TABLE calendar_days;
