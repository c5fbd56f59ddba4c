//! Receipts kept for years (issue 25): on PostgreSQL `credit_checks` is partitioned by month and
//! the service creates the coming months' partitions ahead of time; on SQLite it is one table. On
//! both, receipts of different months read back by id and by subject, and a feedback row cannot
//! name a receipt that does not exist.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use credit_lists::auth::Role;
use credit_lists::checks::partitions::{self, partition_name};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::entries::uscc;
use crate::helpers::*;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The partition a receipt is stored in (PostgreSQL).
fn partition_of(app: &TestApp, id: i64) -> String {
    diesel::sql_query("SELECT tableoid::regclass::text AS name FROM credit_checks WHERE id = $1")
        .bind::<Integer, _>(id as i32)
        .get_result::<Name>(&mut *app.conn())
        .unwrap()
        .name
}

/// The partitions of `credit_checks` with their bounds (PostgreSQL).
fn partitions_of(app: &TestApp) -> Vec<(String, String)> {
    #[derive(QueryableByName)]
    struct Part {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        bound: String,
    }
    diesel::sql_query(
        "SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'credit_checks'::regclass ORDER BY 1",
    )
    .load::<Part>(&mut *app.conn())
    .unwrap()
    .into_iter()
    .map(|p| (p.name, p.bound))
    .collect()
}

fn first_of(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap()
}

async fn check(app: &TestApp, token: &str, code: &str) -> i64 {
    let res = app
        .post(
            "/api/v1/credit-checks",
            token,
            json!({"subject_code": code, "field": "bidding", "reference": "ZB-1", "purpose": "投标"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["check_id"].as_i64().unwrap()
}

async fn read_back(app: &TestApp, token: &str, id: i64) {
    let res = app.get(&format!("/api/v1/credit-checks/{id}"), token).await;
    assert_eq!(res.status(), StatusCode::OK, "receipt {id}");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["check_id"], id, "{v}");
}

/// The receipts found for a subject, as (id, checked_at) in the list's order (newest first).
async fn history(app: &TestApp, token: &str, code: &str) -> Vec<(i64, String)> {
    let res = app
        .get(&format!("/api/v1/credit-checks?subject={code}"), token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["check_id"].as_i64().unwrap(),
                i["checked_at"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn receipts_of_two_months_read_back_and_next_months_partition_exists_before_it_begins() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let admin = app.admin().await;
    let today = Utc::now().date_naive();
    let this_month = first_of(today);
    let two_months_ago = first_of(first_of(this_month - Duration::days(1)) - Duration::days(1));
    let next_month = first_of(this_month + Duration::days(40));

    // PostgreSQL: the service created this month's partition and the next ones at start, before
    // any receipt, plus the default partition.
    if is_postgres() {
        let parts = partitions_of(&app);
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"credit_checks_default"), "{names:?}");
        assert!(
            names.contains(&partition_name(this_month).as_str()),
            "{names:?}"
        );
        let (_, bound) = parts
            .iter()
            .find(|(n, _)| *n == partition_name(next_month))
            .unwrap_or_else(|| panic!("next month's partition exists: {names:?}"));
        assert_eq!(
            bound,
            &format!(
                "FOR VALUES FROM ('{next_month} 00:00:00') TO ('{} 00:00:00')",
                first_of(next_month + Duration::days(40))
            )
        );
        assert!(
            !names.contains(&partition_name(two_months_ago).as_str()),
            "no partition for a month before the database existed: {names:?}"
        );
    }

    let old_code = uscc(701);
    let new_code = uscc(702);
    let old = check(&app, &approver.token, &old_code).await;
    // Read back first: on SQLite this waits until the receipt is in `credit_checks`.
    read_back(&app, &approver.token, old).await;
    // The receipt is moved two months back, as a receipt of that month (on PostgreSQL the row
    // moves to the partition that takes it: the default one, that month having none).
    let moved = diesel::sql_query("UPDATE credit_checks SET checked_at = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Timestamp, _>(two_months_ago.and_hms_opt(9, 30, 0).unwrap())
        .bind::<Integer, _>(old as i32)
        .execute(&mut *app.conn())
        .unwrap();
    assert_eq!(moved, 1);
    let new = check(&app, &approver.token, &new_code).await;
    assert!(new > old);
    if is_postgres() {
        assert_eq!(partition_of(&app, old), "credit_checks_default");
        assert_eq!(partition_of(&app, new), partition_name(this_month));
    }

    for _ in 0..2 {
        // Each receipt by id, by its caller and by an admin; unknown ids are still 404.
        for id in [old, new] {
            read_back(&app, &approver.token, id).await;
            read_back(&app, &admin.token, id).await;
        }
        let res = app
            .get(
                &format!("/api/v1/credit-checks/{}", new + 1000),
                &admin.token,
            )
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        // Each subject's history finds its receipt, with its month.
        let h = history(&app, &admin.token, &old_code).await;
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].0, old);
        assert!(
            h[0].1
                .starts_with(&two_months_ago.format("%Y-%m-01T09:30:00").to_string()),
            "{h:?}"
        );
        let h = history(&app, &admin.token, &new_code).await;
        assert_eq!(h.iter().map(|x| x.0).collect::<Vec<_>>(), vec![new]);

        // Creating the partitions from that month on (what an instance whose clock read that
        // month would do) moves the row out of the default partition; SQLite has nothing to do.
        let created = partitions::ensure(
            &mut app.conn(),
            two_months_ago.and_hms_opt(0, 0, 0).unwrap(),
        )
        .unwrap();
        if is_postgres() {
            assert_eq!(partition_of(&app, old), partition_name(two_months_ago));
            let default_rows =
                diesel::sql_query("SELECT count(*)::int AS n FROM credit_checks_default")
                    .get_result::<N>(&mut *app.conn())
                    .unwrap()
                    .n;
            assert_eq!(default_rows, 0);
        } else {
            assert!(created.is_empty());
        }
        // The second round reads everything back again after the move, and creates nothing.
        let again = partitions::ensure(
            &mut app.conn(),
            two_months_ago.and_hms_opt(0, 0, 0).unwrap(),
        )
        .unwrap();
        assert!(again.is_empty(), "{again:?}");
    }

    // Feedback on the moved receipt is taken; a feedback row naming a receipt that does not exist
    // is refused by the database on both engines (a trigger on PostgreSQL, where a foreign key
    // cannot name `id` alone of a partitioned table).
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{old}/feedback"),
            &approver.token,
            json!({"decision": "approved", "measures_applied": [], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bad = diesel::sql_query(
        "INSERT INTO check_feedback (check_id, decision, measures_applied, note, decided_at, \
         recorded_by, recorded_at) VALUES ($1, 'approved', '[]', '', $2, $3, $2)",
    )
    .bind::<Integer, _>((new + 1000) as i32)
    .bind::<diesel::sql_types::Timestamp, _>(Utc::now().naive_utc())
    .bind::<Integer, _>(approver.id)
    .execute(&mut *app.conn());
    assert!(
        matches!(
            bad,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        ),
        "{bad:?}"
    );
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = Integer)]
    n: i32,
}

/// The partitions an instance creates are the current month's and the next three, whatever the
/// date (a year's end included), and only once.
#[tokio::test]
async fn partitions_are_created_ahead_across_a_years_end() {
    let app = spawn_app().await;
    let at = NaiveDate::from_ymd_opt(2031, 11, 15).unwrap();
    let created = partitions::ensure(&mut app.conn(), at.and_hms_opt(23, 59, 59).unwrap()).unwrap();
    if is_postgres() {
        assert_eq!(
            created,
            vec![
                "credit_checks_p203111",
                "credit_checks_p203112",
                "credit_checks_p203201",
                "credit_checks_p203202"
            ]
        );
        let names: Vec<String> = partitions_of(&app).into_iter().map(|p| p.0).collect();
        for n in &created {
            assert!(names.contains(n), "{names:?}");
        }
    } else {
        assert!(created.is_empty());
        let tables: Vec<Name> = diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'credit_checks%'",
        )
        .load(&mut *app.conn())
        .unwrap();
        assert_eq!(
            tables.into_iter().map(|t| t.name).collect::<Vec<_>>(),
            vec!["credit_checks"],
            "one receipt table on SQLite"
        );
    }
    let again = partitions::ensure(&mut app.conn(), at.and_hms_opt(0, 0, 0).unwrap()).unwrap();
    assert!(again.is_empty(), "{again:?}");
}
