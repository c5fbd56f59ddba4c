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
    redate_receipt(&app, old, two_months_ago.and_hms_opt(9, 30, 0).unwrap());
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
        // A clock that far ahead does not record the id range of a month that is still open
        // (the database's clock bounds it): nothing is recorded from this month on.
        let recorded = diesel::sql_query(
            "SELECT count(*)::int AS n FROM credit_check_id_ranges WHERE month >= $1",
        )
        .bind::<diesel::sql_types::Date, _>(first_of(Utc::now().date_naive()))
        .get_result::<N>(&mut *app.conn())
        .unwrap()
        .n;
        assert_eq!(recorded, 0);
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

/// A read by id looks only at the months that can hold the id (PostgreSQL: the ended months' id
/// ranges recorded by partition maintenance), and stays exact across a month's boundary, where ids
/// are not in `checked_at` order across instances, and for a receipt that reached an ended month
/// after its range was recorded. On SQLite (one table) the same reads answer the same.
#[tokio::test]
async fn a_receipt_read_by_id_is_found_in_its_month_across_a_months_boundary() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let admin = app.admin().await;
    let this_month = first_of(Utc::now().date_naive());
    let m1 = first_of(this_month - Duration::days(1));
    let m2 = first_of(m1 - Duration::days(1));
    let m3 = first_of(m2 - Duration::days(1));
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = check(&app, &approver.token, &uscc(710 + i)).await;
        read_back(&app, &approver.token, id).await;
        ids.push(id);
    }
    let [a, b, c, d, e] = ids[..] else {
        unreachable!()
    };
    // `b` was checked on an instance whose clock had passed into `m1`, `c` just before midnight
    // on another: `c` has the larger id and the earlier month.
    let at = |day: NaiveDate, h, m, s| day.and_hms_opt(h, m, s).unwrap();
    let times = [
        (a, at(m3 + Duration::days(9), 9, 0, 0)),
        (b, at(m1, 0, 0, 1)),
        (c, at(m1 - Duration::days(1), 23, 59, 59)),
        (d, at(m1 + Duration::days(14), 10, 0, 0)),
    ];
    for (id, t) in times {
        redate_receipt(&app, id, t);
    }
    // The months' partitions as an instance three months ago created them, then today's
    // maintenance, which records the ended months' id ranges.
    partitions::ensure(&mut app.conn(), at(m3, 0, 0, 0)).unwrap();
    partitions::ensure(&mut app.conn(), Utc::now().naive_utc()).unwrap();

    if is_postgres() {
        #[derive(QueryableByName, Debug, PartialEq)]
        struct R {
            #[diesel(sql_type = diesel::sql_types::Date)]
            month: NaiveDate,
            #[diesel(sql_type = Integer)]
            min_id: i32,
            #[diesel(sql_type = Integer)]
            max_id: i32,
        }
        let ranges: Vec<R> = diesel::sql_query(
            "SELECT month, min_id, max_id FROM credit_check_id_ranges ORDER BY month",
        )
        .load(&mut *app.conn())
        .unwrap();
        let r = |month, lo: i64, hi: i64| R {
            month,
            min_id: lo as i32,
            max_id: hi as i32,
        };
        assert_eq!(ranges, vec![r(m3, a, a), r(m2, c, c), r(m1, b, d)]);
        assert_eq!(partition_of(&app, a), partition_name(m3));
        assert_eq!(partition_of(&app, c), partition_name(m2));
        assert_eq!(partition_of(&app, b), partition_name(m1));
        // Each receipt's time is inside its id's window; `a`'s window leaves out the current
        // month (and the months ahead).
        for (id, t) in times.into_iter().chain([(e, Utc::now().naive_utc())]) {
            let (from, until) = partitions::id_window(&mut app.conn(), id as i32)
                .unwrap()
                .unwrap_or_else(|| panic!("receipt {id} has a window"));
            assert!(
                from <= t && until.is_none_or(|u| t < u),
                "{id} at {t}: {from}..{until:?}"
            );
        }
        let (from, until) = partitions::id_window(&mut app.conn(), a as i32)
            .unwrap()
            .unwrap();
        assert_eq!(until, Some(at(m1, 0, 0, 0)));
        // The planner reads only the window's months: the current month's partition is not in
        // the plan of `a`'s read.
        #[derive(QueryableByName)]
        struct Plan {
            #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
            line: String,
        }
        let plan: Vec<Plan> = diesel::sql_query(format!(
            "EXPLAIN SELECT * FROM credit_checks WHERE id = {a} \
             AND checked_at >= '{from}' AND checked_at < '{}'",
            until.unwrap()
        ))
        .load(&mut *app.conn())
        .unwrap();
        let plan: String = plan.into_iter().map(|p| p.line + "\n").collect();
        assert!(plan.contains(&partition_name(m3)), "{plan}");
        assert!(!plan.contains(&partition_name(this_month)), "{plan}");

        // The database's own existence check (feedback's and cases' triggers) looks in the same
        // windows and then everywhere: every receipt exists, an unknown id does not, and a
        // receipt found outside its id's window (moved there behind the service's back) too.
        #[derive(QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            e: bool,
        }
        let exists = |id: i64| {
            diesel::sql_query("SELECT credit_check_exists($1) AS e")
                .bind::<Integer, _>(id as i32)
                .get_result::<Exists>(&mut *app.conn())
                .unwrap()
                .e
        };
        for id in [a, b, c, d, e] {
            assert!(exists(id), "receipt {id}");
        }
        assert!(!exists(e + 1000));
        assert!(!exists(0));
        redate_receipt(&app, a, at(this_month, 0, 0, 1));
        assert!(exists(a));
        redate_receipt(&app, a, times[0].1);
    } else {
        assert!(partitions::id_window(&mut app.conn(), a as i32)
            .unwrap()
            .is_none());
    }

    // Each receipt read by id is its own (the subject checked tells them apart).
    let read = |id: i64, code: String| {
        let (app, token) = (&app, admin.token.clone());
        async move {
            let res = app
                .get(&format!("/api/v1/credit-checks/{id}"), &token)
                .await;
            assert_eq!(res.status(), StatusCode::OK, "receipt {id}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["check_id"], id, "{v}");
            assert!(v.to_string().contains(&code), "receipt {id} of {code}: {v}");
        }
    };
    for (i, id) in ids.iter().enumerate() {
        read(*id, uscc(710 + i as u32)).await;
    }
    // The list reads the column: each receipt in its month.
    for (i, (id, t)) in times.into_iter().enumerate() {
        let h = history(&app, &admin.token, &uscc(710 + i as u32)).await;
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].0, id);
        assert!(
            h[0].1
                .starts_with(&t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            "receipt {id}: {h:?}, expected {t}"
        );
    }

    // A receipt that reaches an ended month after its range was recorded is outside its id's
    // window, and is still found (the read then probes every month).
    let late = check(&app, &approver.token, &uscc(720)).await;
    read_back(&app, &approver.token, late).await;
    let t = at(m3 + Duration::days(20), 12, 0, 0);
    redate_receipt(&app, late, t);
    if is_postgres() {
        assert_eq!(partition_of(&app, late), partition_name(m3));
        let (from, _) = partitions::id_window(&mut app.conn(), late as i32)
            .unwrap()
            .unwrap();
        assert!(t < from, "the late receipt is outside its window");
    }
    read(late, uscc(720)).await;
    // Unknown ids, above and inside the recorded ranges, are still 404.
    for id in [late + 1000, 0] {
        let res = app
            .get(&format!("/api/v1/credit-checks/{id}"), &admin.token)
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}
