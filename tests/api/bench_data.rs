//! `credit-lists bench-data` (the real binary): on PostgreSQL it loads with COPY and the per-row
//! triggers off, then does their work in one pass; what it leaves must be what the triggers leave.

use std::process::Command;

use credit_lists::db::DbConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::process::login_to;

const BIN: &str = env!("CARGO_BIN_EXE_credit-lists");

fn bench_data(db_url: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("CREDIT_LISTS_CONFIG")
        .env_remove("CREDIT_LISTS_DATABASE_URL")
        .env("CREDIT_LISTS_JWT_SECRET", SECRET)
        .env("CREDIT_LISTS_PII_KEY", PII_KEY)
        .env("CREDIT_LISTS_RECEIPT_SIGNING_KEY", RECEIPT_KEY)
        .env("CREDIT_LISTS_LOG_LEVEL", "warn")
        .args(["--database-url", db_url, "bench-data"])
        .args(args)
        .output()
        .unwrap()
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    r: String,
}

/// The rows of a query whose one column `r` is a row as text, in the query's order.
fn lines(c: &mut DbConnection, query: &str) -> Vec<String> {
    diesel::sql_query(query)
        .load::<Line>(c)
        .unwrap()
        .into_iter()
        .map(|l| l.r)
        .collect()
}

/// The counters' rows that count (a row whose deltas cancel out may or may not be kept).
const COUNTERS: [&str; 7] = [
    "SELECT day || ' ' || region_code || ' ' || department_id || ' ' || source || ' ' || \
     list_type || ' ' || n AS r FROM in_force_days WHERE n <> 0 ORDER BY 1",
    "SELECT month || ' ' || region_code || ' ' || department_id || ' ' || source || ' ' || \
     list_type || ' ' || n AS r FROM in_force_months WHERE n <> 0 ORDER BY 1",
    "SELECT subject_id || ' ' || year || ' ' || population || ' ' || grouping || ' ' || unit \
     || ' ' || first_day || ' ' || COALESCE(trained_on || '', '-') || ' ' || \
     COALESCE(committed_on || '', '-') AS r FROM population_members ORDER BY 1",
    "SELECT year || ' ' || population || ' ' || day || ' ' || grouping || ' ' || unit || ' ' || \
     members || ' ' || trained || ' ' || committed AS r FROM population_days \
     WHERE members <> 0 OR trained <> 0 OR committed <> 0 ORDER BY 1",
    "SELECT subject_id || ' ' || grouping || ' ' || unit || ' ' || from_day || ' ' || stop_day \
     AS r FROM special_listed_spans ORDER BY 1",
    "SELECT day || ' ' || grouping || ' ' || unit || ' ' || n AS r FROM special_listed_days \
     WHERE n <> 0 ORDER BY 1",
    "SELECT month || ' ' || grouping || ' ' || unit || ' ' || n AS r FROM special_listed_months \
     WHERE n <> 0 ORDER BY 1",
];

fn counters(c: &mut DbConnection) -> Vec<Vec<String>> {
    COUNTERS.iter().map(|q| lines(c, q)).collect()
}

/// Generated subjects' names: "通化市测试N商贸有限公司" and "测试N".
const GENERATED: &str = "(s.name LIKE '通化市测试%' OR s.name LIKE '测试%')";

#[tokio::test]
async fn bench_data_leaves_the_counters_and_change_log_the_triggers_would() {
    let (db, _d) = fresh_database();
    let out = bench_data(
        &db,
        &["--subjects", "700", "--entries", "500", "--seed", "3"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("700 subjects, 500 entries generated"));
    let app = spawn_on(&db, |_| {}).await;
    let mut conn = app.raw_conn();
    let c = &mut conn;

    // Every generated subject and entry is in the check index's change log once, the subjects
    // first, as the row triggers write it; the triggers are on again.
    let (generated, logged, last_subject): (i64, i64, Option<i64>) = diesel::select((
        sql::<BigInt>(&format!(
            "(SELECT count(*) FROM subjects s WHERE {GENERATED})"
        )),
        sql::<BigInt>(&format!(
            "(SELECT count(*) FROM check_changes ch JOIN subjects s \
               ON ch.tbl = 'subjects' AND s.id = ch.row_id WHERE {GENERATED})"
        )),
        sql::<diesel::sql_types::Nullable<BigInt>>(&format!(
            "(SELECT max(ch.id) FROM check_changes ch JOIN subjects s \
               ON ch.tbl = 'subjects' AND s.id = ch.row_id WHERE {GENERATED})"
        )),
    ))
    .get_result(c)
    .unwrap();
    assert_eq!((generated, logged), (700, 700));
    let (entries, entries_logged, first_entry): (i64, i64, Option<i64>) = diesel::select((
        sql::<BigInt>("(SELECT count(*) FROM list_entries WHERE document_number LIKE 'BENCH%')"),
        sql::<BigInt>(
            "(SELECT count(*) FROM check_changes ch JOIN list_entries e \
               ON ch.tbl = 'list_entries' AND e.id = ch.row_id \
             WHERE e.document_number LIKE 'BENCH%')",
        ),
        sql::<diesel::sql_types::Nullable<BigInt>>(
            "(SELECT min(ch.id) FROM check_changes ch JOIN list_entries e \
               ON ch.tbl = 'list_entries' AND e.id = ch.row_id \
             WHERE e.document_number LIKE 'BENCH%')",
        ),
    ))
    .get_result(c)
    .unwrap();
    assert!(entries > 400, "{entries} entries");
    assert_eq!(entries_logged, entries);
    assert!(last_subject.unwrap() < first_entry.unwrap());

    // The report reads the counters: something to count.
    let token = login_to(&app.client, &app.address, "demo-city-bureau").await;
    let year = chrono::Utc::now().format("%Y").to_string();
    let get = || async {
        let res = app
            .get(&format!("/api/v1/targets?year={year}"), &token)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()
    };
    let report = get().await;
    assert!(
        report["total"]["local_black_in_force"].as_i64().unwrap() > 100,
        "{}",
        report["total"]
    );

    if !is_postgres() {
        // SQLite writes row by row with its triggers on: nothing to compare with.
        return;
    }
    let on: i64 = diesel::select(sql::<BigInt>(
        "(SELECT count(*) FROM pg_trigger WHERE tgenabled = 'O' AND tgname IN \
          ('subjects_check_change', 'list_entries_check_change', 'list_entries_counters', \
           'population_members_counters', 'special_listed_spans_counters'))",
    ))
    .get_result(c)
    .unwrap();
    assert_eq!(on, 5, "the bulk load's triggers are on again");

    // Recount everything with the triggers' own functions, as the counters' migration does.
    let bulk = counters(c);
    // Something in every counter (section 九's: the demo marks the court's scope item).
    assert!(bulk.iter().all(|rows| !rows.is_empty()), "{bulk:?}");
    assert!(bulk[..4].iter().all(|rows| rows.len() > 10), "{bulk:?}");
    let DbConnection::Postgresql(pg) = c else {
        unreachable!()
    };
    pg.transaction(|pg| {
        diesel::sql_query(
            "TRUNCATE in_force_days, in_force_months, population_members, population_days, \
             in_force_pending, population_pending, special_listed_spans, special_listed_days, \
             special_listed_months, special_listed_pending",
        )
        .execute(pg)?;
        diesel::sql_query("SELECT in_force_entry(e, 1) FROM list_entries e").execute(pg)?;
        diesel::sql_query(
            "SELECT population_refresh(subject_id) FROM \
             (SELECT DISTINCT subject_id FROM list_entries WHERE list_type = 'black') s",
        )
        .execute(pg)
    })
    .unwrap();
    assert_eq!(counters(c), bulk);
    assert_eq!(get().await, report);
}

#[tokio::test]
async fn bench_data_refuses_entries_without_subjects_and_a_failed_run_changes_nothing() {
    let (db, _d) = fresh_database();
    let out = bench_data(&db, &["--subjects", "0", "--entries", "10"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--entries needs at least one subject"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = bench_data(&db, &["--subjects", "300", "--entries", "200"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = spawn_on(&db, |_| {}).await;
    let mut conn = app.raw_conn();
    let c = &mut conn;
    let tables = "SELECT (SELECT count(*) FROM subjects) || ' ' || \
                  (SELECT count(*) FROM list_entries) || ' ' || \
                  (SELECT count(*) FROM check_changes) || ' ' || \
                  (SELECT count(*) FROM population_members) AS r";
    let before = lines(c, tables);
    let before_counters = counters(c);
    // The same codes again: the subjects' lookup keys are unique, so the run fails (on
    // PostgreSQL after the first COPY, inside the load's one transaction).
    let out = bench_data(&db, &["--subjects", "300", "--entries", "200"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(lines(c, tables), before);
    assert_eq!(counters(c), before_counters);
    if is_postgres() {
        let on: i64 = diesel::select(sql::<BigInt>(
            "(SELECT count(*) FROM pg_trigger WHERE tgenabled = 'O' AND tgname IN \
              ('subjects_check_change', 'list_entries_check_change', 'list_entries_counters', \
               'population_members_counters'))",
        ))
        .get_result(c)
        .unwrap();
        assert_eq!(on, 4);
    }
}
