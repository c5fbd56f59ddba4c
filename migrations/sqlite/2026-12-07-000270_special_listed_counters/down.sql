DROP TRIGGER special_listed_population_refresh;
DROP TRIGGER special_listed_refresh_apply;
DROP VIEW special_listed_refresh;
DROP TRIGGER special_listed_spans_ad;
DROP TRIGGER special_listed_spans_ai;
DROP TABLE special_listed_months;
DROP TABLE special_listed_days;
DROP TABLE special_listed_spans;
