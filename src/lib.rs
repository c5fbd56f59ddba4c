//! credit-lists: the joint reward-and-punishment lists service (守信联合激励和失信联合惩戒).
//! See `docs/architecture.md` for the module map.

pub mod audit;
pub mod auth;
pub mod baselines;
pub mod calendar;
pub mod cases;
pub mod checks;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod domain;
pub mod entries;
pub mod error;
pub mod feed;
pub mod four_lists;
pub mod http;
pub mod imports;
pub mod metrics;
pub mod national;
pub mod openapi;
pub mod ops;
pub mod org;
pub mod pii;
pub mod repair;
pub mod routes;
pub mod schema;
pub mod scorecards;
pub mod startup;
pub mod state;
pub mod stats;
pub mod tabular;
pub mod targets;
pub mod telemetry;
pub mod users;
