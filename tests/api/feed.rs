//! The feed to the provincial platform (共享至省平台): events for every change, cursor reads under
//! concurrent writers, push with retries against a local receiver, resumption after a restart,
//! two pushing instances on one database.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cases::{listed, setup};
use crate::entries::{create_entry, entry, uscc};
use crate::four_lists::{black_scope, create, publish};
use crate::helpers::*;

async fn read_all(app: &TestApp, token: &str, after: i64, limit: i64) -> (Vec<Value>, i64) {
    let mut cursor = after;
    let mut out = Vec::new();
    loop {
        let res = app
            .get(&format!("/api/v1/feed?after={cursor}&limit={limit}"), token)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        let events = page["events"].as_array().unwrap().clone();
        cursor = page["next_cursor"].as_i64().unwrap();
        let more = page["has_more"].as_bool().unwrap();
        out.extend(events);
        if !more {
            return (out, cursor);
        }
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_status_change_is_an_event_read_by_cursor() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let admin = app.admin().await;
    let (start, cursor0) = read_all(app, &admin.token, 0, 2).await;
    // The fixture published three scope items and two measures.
    assert_eq!(
        types(&start),
        vec!["four_list_item.published"; 5],
        "four-list publications are events"
    );
    let ids: Vec<i64> = start.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids");

    // Red entry published, then a black entry for the same subject removes it (black-while-red).
    let code = uscc(81);
    let mut red_body = entry("red", s.f.red, &code, "HONG-F");
    red_body["internal_note"] = json!("内部备注");
    let red = create_entry(app, t, red_body).await["id"].as_i64().unwrap();
    crate::entries::publish_entry(app, t, red).await;
    let black = listed(&s, "black", &code, "HEI-F").await;
    // A draft is not an event; its removal-free discard neither.
    create_entry(app, t, entry("black", s.f.black, &uscc(82), "HEI-DRAFT")).await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{black}/remove"),
            t,
            json!({"reason": "revoked", "note": "撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let repealable = create(app, t, black_scope("HEI-REPEAL")).await["id"]
        .as_i64()
        .unwrap();
    publish(app, t, repealable).await;
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{repealable}/repeal"),
            Some(t),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let (events, cursor) = read_all(app, &admin.token, cursor0, 2).await;
    assert_eq!(
        types(&events),
        vec![
            "list_entry.published",
            "list_entry.published",
            "list_entry.removed",
            "list_entry.removed",
            "four_list_item.published",
            "four_list_item.repealed",
        ]
    );
    assert_eq!(events[0]["entity_id"], red.to_string());
    assert_eq!(events[1]["entity_id"], black.to_string());
    assert_eq!(events[2]["entity_id"], red.to_string());
    assert_eq!(
        events[2]["payload"]["removal_reason"],
        "black_listed_while_red"
    );
    assert_eq!(events[3]["payload"]["removal_reason"], "revoked");
    assert_eq!(events[0]["payload"]["subject"]["code"], code, "full codes");
    assert_eq!(events[0]["payload"]["status"], "published");
    assert!(
        events[0]["payload"]["internal_note"].is_null(),
        "staff notes stay in the city"
    );
    assert_eq!(events[5]["payload"]["status"], "repealed");
    // Reading on from the end gives nothing; the cursor is stable.
    let (none, same) = read_all(app, &admin.token, cursor, 100).await;
    assert!(none.is_empty());
    assert_eq!(same, cursor);

    // Only admins and the city bureau read the feed.
    let res = app.get("/api/v1/feed", &s.city.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let county = app
        .account("county", Role::Bureau, None, Some("220502"))
        .await;
    for token in [&county.token, t] {
        let res = app.get("/api/v1/feed", token).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.get("/api/v1/feed/status", token).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for bad in ["limit=0", "limit=1001", "after=-1", "after=x"] {
        let res = app.get(&format!("/api/v1/feed?{bad}"), &admin.token).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    let st: Value = app
        .get("/api/v1/feed/status", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["push_configured"], false);
    assert_eq!(st["last_delivered_id"], 0);
    assert_eq!(st["latest_event_id"], cursor);
    assert_eq!(st["pending"], 11);
}

#[tokio::test]
async fn a_reader_polling_during_concurrent_writes_misses_nothing() {
    let s = setup().await;
    let app = &s.f.app;
    let admin = app.admin().await;
    let (_, start) = read_all(app, &admin.token, 0, 1000).await;
    let mut drafts = Vec::new();
    for n in 0..24 {
        let v = create_entry(
            app,
            &s.f.tax.token,
            entry("black", s.f.black, &uscc(900 + n), &format!("HEI-C-{n}")),
        )
        .await;
        drafts.push(v["id"].as_i64().unwrap());
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers = {
        let client = app.client.clone();
        let base = app.address.clone();
        let token = s.f.tax.token.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let futs = drafts.iter().map(|id| {
                client
                    .post(format!("{base}/api/v1/list-entries/{id}/publish"))
                    .bearer_auth(&token)
                    .send()
            });
            for r in futures_util::future::join_all(futs).await {
                assert_eq!(r.unwrap().status(), StatusCode::OK);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut seen = Vec::new();
    let mut cursor = start;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let (events, next) = read_all(app, &admin.token, cursor, 3).await;
        seen.extend(events.iter().map(|e| e["id"].as_i64().unwrap()));
        cursor = next;
        if finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writers.await.unwrap();
    let (rest, _) = read_all(app, &admin.token, cursor, 1000).await;
    assert!(rest.is_empty(), "nothing appeared behind the cursor");
    assert_eq!(seen.len(), 24);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let (all, _) = read_all(app, &admin.token, start, 1000).await;
    let all: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all);
}

/// A receiver of pushes that answers 503 to the first `fail_first` requests.
struct Receiver {
    url: String,
    accepted: Arc<Mutex<Vec<i64>>>,
    /// The accepted events as received.
    events: Arc<Mutex<Vec<Value>>>,
    requests: Arc<AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

async fn receiver(fail_first: usize) -> Receiver {
    receiver_with(fail_first, Duration::ZERO).await
}

/// A receiver that answers 503 to the first `fail_first` requests and takes `delay` over each.
async fn receiver_with(fail_first: usize, delay: Duration) -> Receiver {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let (a, r, ev) = (accepted.clone(), requests.clone(), events.clone());
    let server = HttpServer::new(move || {
        let a = a.clone();
        let r = r.clone();
        let ev = ev.clone();
        App::new().route(
            "/push",
            web::post().to(move |body: web::Json<Value>| {
                let a = a.clone();
                let r = r.clone();
                let ev = ev.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let n = r.fetch_add(1, Ordering::SeqCst);
                    if n < fail_first {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    let mut got = a.lock().unwrap();
                    for e in body["events"].as_array().unwrap() {
                        got.push(e["id"].as_i64().unwrap());
                        ev.lock().unwrap().push(e.clone());
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Receiver {
        url: format!("http://127.0.0.1:{port}/push"),
        accepted,
        events,
        requests,
        handle,
    }
}

fn push_to(url: String) -> impl FnOnce(&mut credit_lists::config::Settings) {
    move |s| {
        s.feed_push_url = Some(url);
        s.feed_push_batch = 4;
        s.feed_push_backoff_ms = 20;
        s.feed_push_max_backoff_secs = 1;
        s.feed_poll_ms = 30;
        s.feed_lease_secs = 5;
    }
}

fn latest_id(app: &TestApp) -> i64 {
    use credit_lists::schema::feed_events;
    use diesel::prelude::*;
    feed_events::table
        .select(diesel::dsl::max(feed_events::id))
        .first::<Option<i64>>(&mut *app.conn())
        .unwrap()
        .unwrap_or(0)
}

fn all_ids(app: &TestApp) -> Vec<i64> {
    use credit_lists::schema::feed_events;
    use diesel::prelude::*;
    feed_events::table
        .order(feed_events::id.asc())
        .select(feed_events::id)
        .load(&mut *app.conn())
        .unwrap()
}

async fn wait_delivered(app: &TestApp, token: &str, upto: i64) -> Value {
    for _ in 0..400 {
        let st: Value = app
            .get("/api/v1/feed/status", token)
            .await
            .json()
            .await
            .unwrap();
        if st["last_delivered_id"].as_i64().unwrap() >= upto {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("events up to {upto} were not delivered in time");
}

async fn some_events(app: &TestApp, token: &str, scope: i64, from: u32, n: u32) {
    for i in from..from + n {
        let id = create_entry(
            app,
            token,
            entry("black", scope, &uscc(i), &format!("HEI-P-{i}")),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        crate::entries::publish_entry(app, token, id).await;
    }
}

#[tokio::test]
async fn push_retries_with_backoff_and_delivers_each_event_once_in_order() {
    let rx = receiver(3).await;
    let app = spawn_app_with(push_to(rx.url.clone())).await;
    let admin = app.admin().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let scope = create(&app, &tax.token, black_scope("HEI-PUSH")).await["id"]
        .as_i64()
        .unwrap();
    publish(&app, &tax.token, scope).await;
    some_events(&app, &tax.token, scope, 300, 9).await;
    let st = wait_delivered(&app, &admin.token, latest_id(&app)).await;
    assert_eq!(st["push_configured"], true);
    assert_eq!(st["pending"], 0);
    assert_eq!(st["attempts"], 0, "reset after success");
    assert!(st["last_error"].is_null());
    assert!(st["last_success_at"].is_string());
    assert!(
        rx.requests.load(Ordering::SeqCst) >= 3 + 3,
        "three failures, then batches of 4"
    );
    let got = rx.accepted.lock().unwrap().clone();
    assert_eq!(got, all_ids(&app), "each event once, in order");
    assert_eq!(got.len(), 10);
    rx.handle.stop(false).await;
}

#[tokio::test]
async fn push_resumes_after_a_restart_and_one_of_two_instances_pushes() {
    let rx = receiver(0).await;
    let (db_url, _dir) = fresh_database();
    let (app, handle) = spawn_on_stoppable(&db_url, push_to(rx.url.clone())).await;
    let admin = app.admin().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let scope = create(&app, &tax.token, black_scope("HEI-RESUME")).await["id"]
        .as_i64()
        .unwrap();
    publish(&app, &tax.token, scope).await;
    some_events(&app, &tax.token, scope, 400, 3).await;
    wait_delivered(&app, &admin.token, latest_id(&app)).await;
    let first = rx.accepted.lock().unwrap().clone();
    assert_eq!(first.len(), 4);
    // Shut the pushing instance down; changes go on through an instance without push.
    handle.stop(true).await;
    let quiet = spawn_on(&db_url, |_| {}).await;
    let tax2 = quiet.login_ok("tax").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    some_events(&quiet, &tax2, scope, 410, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        rx.accepted.lock().unwrap().len(),
        4,
        "nobody pushes meanwhile"
    );
    // Two pushing instances start on the same database: the backlog and what follows is
    // delivered once, in order, by whichever holds the lease.
    let a = spawn_on(&db_url, push_to(rx.url.clone())).await;
    let b = spawn_on(&db_url, push_to(rx.url.clone())).await;
    let admin_b = b.login_ok("admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    some_events(&a, &tax2, scope, 420, 4).await;
    some_events(&b, &tax2, scope, 430, 4).await;
    let st = wait_delivered(&b, &admin_b, latest_id(&b)).await;
    let got = rx.accepted.lock().unwrap().clone();
    assert_eq!(
        got,
        all_ids(&b),
        "once each, in order, across restart and two instances"
    );
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len());
    assert!(st["lease_holder"].is_string());
    rx.handle.stop(false).await;
}

#[tokio::test]
async fn an_upheld_objection_is_a_removal_event_and_a_dismissed_one_is_none() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let id = listed(&s, "black", &uscc(91), "HEI-OBJ").await;
    let path = format!("/api/v1/list-entries/{id}/objections");
    let before = crate::cases::feed_count(app, "list_entry.removed");
    let published = crate::cases::feed_count(app, "list_entry.published");
    for (resolution, reason) in [("dismissed", "事实清楚"), ("upheld", "新证据成立")] {
        let o: Value = app
            .post(
                &path,
                t,
                json!({"raised_by": "企业", "grounds": "认定有误"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let res = app
            .post(
                &format!("{path}/{}/resolve", o["id"]),
                t,
                json!({"resolution": resolution, "reason": reason}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let expected = if resolution == "upheld" { 1 } else { 0 };
        assert_eq!(
            crate::cases::feed_count(app, "list_entry.removed"),
            before + expected,
            "{resolution}"
        );
    }
    assert_eq!(
        crate::cases::feed_count(app, "list_entry.published"),
        published,
        "opening and dismissing objections change no list status"
    );
    let admin = app.admin().await;
    let (events, _) = read_all(app, &admin.token, 0, 1000).await;
    let last = events.last().unwrap();
    assert_eq!(last["entity_id"], id.to_string());
    assert_eq!(last["payload"]["removal_reason"], "objection_upheld");
}

/// The real binary pushing the demo's events to a slow receiver is killed with SIGKILL in the
/// middle of the push and started again: every event arrives, in commit order; at most the batch
/// in flight at the kill arrives twice (the receiver drops it by id).
#[tokio::test]
async fn a_push_killed_midway_resumes_without_loss_or_reordering() {
    let rx = receiver_with(0, Duration::from_millis(15)).await;
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CREDIT_LISTS_FEED_PUSH_URL", rx.url.as_str()),
        ("CREDIT_LISTS_FEED_PUSH_BATCH", "4"),
        ("CREDIT_LISTS_FEED_POLL_MS", "30"),
        ("CREDIT_LISTS_FEED_PUSH_BACKOFF_MS", "20"),
        ("CREDIT_LISTS_FEED_LEASE_SECS", "2"),
    ];
    let (mut child, _) = crate::process::start_server_env(&db, dir.path(), true, &env);
    let mut waited = 0;
    while rx.accepted.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
        assert!(waited < 3000, "the push did not start");
    }
    child.kill().unwrap(); // SIGKILL, mid-push
    child.wait().unwrap();
    let at_kill = rx.accepted.lock().unwrap().len();
    let mut conn = open_db(&db);
    let all: Vec<i64> = {
        use credit_lists::schema::feed_events;
        use diesel::prelude::*;
        feed_events::table
            .order(feed_events::id.asc())
            .select(feed_events::id)
            .load(&mut *conn)
            .unwrap()
    };
    assert!(
        at_kill < all.len(),
        "the kill came before the push finished ({at_kill} of {})",
        all.len()
    );
    // After the lease of the killed process expires, the restarted one resumes.
    let (mut child, _) = crate::process::start_server_env(&db, dir.path(), true, &env);
    let last = *all.last().unwrap();
    let mut waited = 0;
    while !rx.accepted.lock().unwrap().contains(&last) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(
            waited < 1500,
            "the restarted process did not finish the push"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let got = rx.accepted.lock().unwrap().clone();
    let mut first_seen = Vec::new();
    let mut seen = BTreeSet::new();
    for id in &got {
        if seen.insert(*id) {
            first_seen.push(*id);
        }
    }
    assert_eq!(first_seen, all, "every event, in commit order");
    assert!(
        got.len() - all.len() <= 4,
        "only the batch in flight may come twice ({} duplicates)",
        got.len() - all.len()
    );
    rx.handle.stop(false).await;
}

/// An event's `entity_id` as a number.
fn entity_of(event: &Value) -> Option<i64> {
    event["entity_id"].as_str()?.parse().ok()
}

/// Every stored payload, as the database holds it.
fn stored_payloads(app: &TestApp) -> Vec<(i64, String)> {
    use credit_lists::schema::feed_events;
    use diesel::prelude::*;
    feed_events::table
        .order(feed_events::id.asc())
        .select((feed_events::id, feed_events::payload))
        .load(&mut *app.conn())
        .unwrap()
}

/// An individual listed, the list entry published and removed, an enterprise with its legal
/// representative's number, a case about the individual shared with the province: the outbox
/// holds none of the numbers in clear, while the feed's readers and the provincial platform get
/// every event with the full numbers, the platform exactly what the feed API reads.
#[tokio::test]
async fn id_numbers_are_encrypted_in_the_outbox_and_read_and_pushed_in_full() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let admin = app.admin().await;
    let person = crate::entries::id_number(31);
    let rep = crate::entries::id_number(32);
    let mut body = entry("black", s.f.black, &person, "HEI-PII-1");
    body["subject_name"] = json!("王某某");
    body.as_object_mut().unwrap().remove("legal_representative");
    let e_person = create_entry(app, t, body).await["id"].as_i64().unwrap();
    crate::entries::publish_entry(app, t, e_person).await;
    let mut body = entry("black", s.f.black, &uscc(331), "HEI-PII-2");
    body["legal_representative_id"] = json!(rep);
    let e_org = create_entry(app, t, body).await["id"].as_i64().unwrap();
    crate::entries::publish_entry(app, t, e_org).await;
    let mut case = crate::cases::punishment_case(&s, &person, e_person);
    case["subjects"] = json!([{"code": person, "name": "王某某"}]);
    let c = crate::cases::post_case(app, t, case).await["id"]
        .as_i64()
        .unwrap();
    let res = crate::cases::action(app, t, c, "submit").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = crate::cases::action(app, &s.city.token, c, "share").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = app
        .post(
            &format!("/api/v1/list-entries/{e_person}/remove"),
            t,
            json!({"reason": "revoked", "note": "撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // At rest: no number in clear; each event about the individual holds a sealed value.
    let stored = stored_payloads(app);
    for (id, payload) in &stored {
        assert!(!payload.contains(&person), "event {id}: {payload}");
        assert!(!payload.contains(&rep), "event {id}: {payload}");
    }
    let sealed = stored
        .iter()
        .filter(|(_, p)| p.contains("{\"$pii\":\"v1:"))
        .count();
    assert_eq!(
        sealed, 3,
        "the publication, the removal and the shared case"
    );

    // Read through the feed API: the full numbers, where they were.
    let (events, last) = read_all(app, &admin.token, 0, 1000).await;
    let find = |ty: &str, entity: i64| {
        events
            .iter()
            .find(|e| e["event_type"] == ty && entity_of(e) == Some(entity))
            .unwrap_or_else(|| panic!("{ty} {entity}"))
            .clone()
    };
    let published = find("list_entry.published", e_person);
    assert_eq!(published["payload"]["subject"]["code"], person);
    assert_eq!(published["payload"]["subject"]["kind"], "individual");
    let removed = find("list_entry.removed", e_person);
    assert_eq!(removed["payload"]["subject"]["code"], person);
    assert_eq!(removed["payload"]["removal_reason"], "revoked");
    let shared = find("case.shared", c);
    assert_eq!(shared["payload"]["subjects"][0]["code"], person);
    let org = find("list_entry.published", e_org);
    assert_eq!(org["payload"]["subject"]["code"], uscc(331));
    // A legal representative's number was never shared in full, and still is not.
    assert_eq!(
        org["payload"]["legal_representative_id"],
        format!("{}********{}", &rep[..6], &rep[14..])
    );
    assert!(
        !org["payload"].to_string().contains("$pii"),
        "no marker is left: {}",
        org["payload"]
    );

    // Pushed: another instance on the same database delivers exactly what the API reads.
    let rx = receiver(0).await;
    let (_pusher, handle) = spawn_on_stoppable(&app.db_url, push_to(rx.url.clone())).await;
    wait_delivered(app, &admin.token, last).await;
    handle.stop(true).await;
    let pushed = rx.events.lock().unwrap().clone();
    assert_eq!(pushed, events);
    rx.handle.stop(true).await;
}

/// Payloads an older version stored in clear are sealed when the service starts, once, in one
/// audited transaction; what the feed gives out does not change, except that an ID number inside
/// free text is masked.
#[tokio::test]
async fn payloads_stored_in_clear_by_an_older_version_are_sealed_at_start_up() {
    use credit_lists::schema::{audit_log, feed_events};
    use diesel::prelude::*;
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let admin = app.admin().await;
    let person = crate::entries::id_number(41);
    let e = create_entry(app, t, entry("black", s.f.black, &person, "HEI-OLD")).await["id"]
        .as_i64()
        .unwrap();
    crate::entries::publish_entry(app, t, e).await;
    let (events, _) = read_all(app, &admin.token, 0, 1000).await;
    let event = events
        .iter()
        .find(|ev| ev["event_type"] == "list_entry.published" && entity_of(ev) == Some(e))
        .unwrap()
        .clone();
    let id = event["id"].as_i64().unwrap();
    // What an older version wrote: the payload in clear, with the number in free text too.
    let mut clear = event["payload"].clone();
    clear["facts"] = json!(format!("当事人身份证号{person}，拒不履行"));
    diesel::update(feed_events::table.find(id))
        .set(feed_events::payload.eq(clear.to_string()))
        .execute(&mut *app.conn())
        .unwrap();
    let sealing = || {
        audit_log::table
            .filter(audit_log::action.eq("feed.payloads_sealed"))
            .select(audit_log::after_json)
            .load::<Option<String>>(&mut *app.conn())
            .unwrap()
    };
    assert!(sealing().is_empty());

    let (_second, handle) = spawn_on_stoppable(&app.db_url, |_| {}).await;
    handle.stop(true).await;
    let stored = stored_payloads(app);
    let row = &stored.iter().find(|(i, _)| *i == id).unwrap().1;
    assert!(!row.contains(&person), "{row}");
    assert!(row.contains("$pii"), "{row}");
    let audit = sealing();
    assert_eq!(audit.len(), 1);
    let after: Value = serde_json::from_str(audit[0].as_deref().unwrap()).unwrap();
    assert_eq!(after["rewritten"], 1);
    assert_eq!(after["first_id"], id);

    let (again, _) = read_all(app, &admin.token, 0, 1000).await;
    let got = again.iter().find(|ev| ev["id"] == id).unwrap();
    let mut expected = event.clone();
    expected["payload"]["facts"] = json!(format!(
        "当事人身份证号{}********{}，拒不履行",
        &person[..6],
        &person[14..]
    ));
    assert_eq!(got, &expected);

    // Idempotent: a further start rewrites nothing and audits nothing.
    let (_third, handle) = spawn_on_stoppable(&app.db_url, |_| {}).await;
    handle.stop(true).await;
    assert_eq!(sealing().len(), 1);
    assert_eq!(stored_payloads(app), stored);
    assert!(credit_lists::audit::verify(&mut app.conn()).unwrap().ok);
}

/// ID numbers typed into free text (facts, notes, names, objection grounds, removal notes) are
/// masked before they are stored, audited or shared; text that only looks like one is kept.
#[tokio::test]
async fn id_numbers_typed_into_free_text_are_masked_before_storing_auditing_or_sharing() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let admin = app.admin().await;
    let person = crate::entries::id_number(51);
    let other = crate::entries::id_number(52);
    let masked = |id: &str| format!("{}********{}", &id[..6], &id[14..]);
    let near_miss = "110105194912310021"; // wrong check character: not an ID number
    let mut body = entry("black", s.f.black, &uscc(351), "HEI-TEXT");
    body["facts"] = json!(format!(
        "法定代表人张三（身份证号{person}）拒不履行；编号{near_miss}。"
    ));
    body["legal_representative"] = json!(format!("张三 {}", other.to_lowercase()));
    body["internal_note"] = json!(format!("核实身份证{other}"));
    let v = create_entry(app, t, body).await;
    let e = v["id"].as_i64().unwrap();
    assert_eq!(
        v["facts"],
        format!(
            "法定代表人张三（身份证号{}）拒不履行；编号{near_miss}。",
            masked(&person)
        )
    );
    assert_eq!(
        v["legal_representative"],
        format!("张三 {}", masked(&other))
    );
    assert_eq!(v["internal_note"], format!("核实身份证{}", masked(&other)));
    crate::entries::publish_entry(app, t, e).await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{e}/objections"),
            t,
            json!({"raised_by": format!("李四{person}"), "grounds": format!("{person}不是本人")}),
        )
        .await;
    let status = res.status();
    let objection: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{objection}");
    assert_eq!(objection["raised_by"], format!("李四{}", masked(&person)));
    assert_eq!(objection["grounds"], format!("{}不是本人", masked(&person)));
    // The shared payload has the masked facts.
    let (events, _) = read_all(app, &admin.token, 0, 1000).await;
    let published = events
        .iter()
        .find(|ev| ev["event_type"] == "list_entry.published" && entity_of(ev) == Some(e))
        .unwrap();
    assert_eq!(published["payload"]["facts"], v["facts"]);

    // Nowhere in the database: entries, objections, audit trail, outbox.
    let data = crate::process::dump(&app.db_url);
    assert!(data.len() > 10_000, "a real dump");
    for id in [&person, &other] {
        for needle in [id.clone(), id.to_lowercase()] {
            assert!(
                !data.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in clear in the database"
            );
        }
    }
    assert!(
        data.windows(near_miss.len())
            .any(|w| w == near_miss.as_bytes()),
        "text that is not an ID number is kept as typed"
    );
}
