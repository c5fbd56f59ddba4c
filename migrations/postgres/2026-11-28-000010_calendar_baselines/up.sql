-- Working-day calendar (工作日历): only the exceptions to "Monday–Friday work, weekend off".
-- holiday = a Monday–Friday that is off (public holiday); workday = a Saturday or Sunday that is a
-- make-up working day (调休上班). Plain weekdays and weekends have no row.
CREATE TABLE calendar_days (
    day DATE PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('holiday', 'workday')),
    name TEXT NOT NULL
);

-- Declared counts of national-level identifications (国家层面认定) per region, year and list type,
-- used as the year-end target denominator when only the count is known.
CREATE TABLE national_baselines (
    region_code TEXT NOT NULL REFERENCES regions (code),
    year INTEGER NOT NULL,
    list_type TEXT NOT NULL CHECK (list_type IN ('red', 'black')),
    count INTEGER NOT NULL CHECK (count >= 0),
    provenance TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by INTEGER REFERENCES users (id),
    PRIMARY KEY (region_code, year, list_type)
);
CREATE INDEX national_baselines_year_idx ON national_baselines (year);
