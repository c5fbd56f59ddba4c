//! One integration-test binary: every test starts the real server on a fresh database (an SQLite
//! file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set) and speaks HTTP to it.

mod answers;
mod audit;
mod auth;
mod authz;
mod backdating;
mod baselines;
mod bench_data;
mod calendar;
mod cases;
mod checks;
mod console;
mod demo_data;
mod documents;
mod entries;
mod errors;
mod feed;
mod four_lists;
mod helpers;
mod import;
mod national;
mod openapi;
mod operations;
mod organisation;
mod partitions;
mod process;
mod query_errors;
mod receipt_signing;
mod repairs;
mod scorecards_full;
mod stats;
mod targets;
mod uploads;
mod users;
mod workbooks;
