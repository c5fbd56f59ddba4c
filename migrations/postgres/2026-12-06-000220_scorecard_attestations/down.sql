DROP TABLE scorecard_attestations;
