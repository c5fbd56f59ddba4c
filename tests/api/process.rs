//! The real binary: start-up checks, the command line, and durability across `kill -9`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use credit_lists::schema::{departments, users};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_credit-lists");

fn cli(db_url: &str) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path())
        .env_remove("CREDIT_LISTS_JWT_SECRET")
        .env_remove("CREDIT_LISTS_PII_KEY")
        .env_remove("CREDIT_LISTS_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("CREDIT_LISTS_CONFIG")
        .env_remove("CREDIT_LISTS_NEW_USER_PASSWORD")
        .env("CREDIT_LISTS_LOG_LEVEL", "warn")
        .arg("--database-url")
        .arg(db_url);
    (cmd, dir)
}

#[test]
fn serve_refuses_to_start_without_a_signing_secret() {
    let (db, _d) = fresh_database();
    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .env("CREDIT_LISTS_PII_KEY", PII_KEY)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CREDIT_LISTS_JWT_SECRET"), "{err}");
    assert!(!err.contains("CREDIT_LISTS_PII_KEY"), "{err}");
}

#[test]
fn serve_refuses_to_start_without_a_pii_key() {
    let (db, _d) = fresh_database();
    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .env("CREDIT_LISTS_JWT_SECRET", SECRET)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CREDIT_LISTS_PII_KEY"), "{err}");
    assert!(err.contains("openssl rand -hex 32"), "{err}");
    assert!(!err.contains("CREDIT_LISTS_JWT_SECRET"), "{err}");
}

#[test]
fn a_postgresql_that_is_down_is_reported_as_such() {
    let (mut cmd, _dir) = cli("postgres://nobody:secret@127.0.0.1:1/credit");
    let out = cmd.arg("migrate").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to PostgreSQL at postgres://nobody:***@127.0.0.1:1/credit"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains("secret"), "password leaked: {err}");
}

fn migrate(db: &str) {
    let (mut cmd, _dir) = cli(db);
    let out = cmd.arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn commands_on_a_missing_sqlite_file_do_not_create_it() {
    if is_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo").join("none.db");
    for args in [
        vec!["audit", "verify"],
        vec!["user", "create", "--username", "x1x", "--role", "admin"],
    ] {
        let (mut cmd, _d) = cli(missing.to_str().unwrap());
        let out = cmd
            .args(&args)
            .env("CREDIT_LISTS_NEW_USER_PASSWORD", "a long enough password")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("there is no database"),
            "{args:?}"
        );
    }
    assert!(!missing.exists());
    // `migrate` is the command that creates it, directory included.
    migrate(missing.to_str().unwrap());
    assert!(missing.exists());
}

#[test]
fn user_create_reads_the_password_from_stdin_or_the_environment() {
    let (db, _d) = fresh_database();
    migrate(&db);
    let (mut cmd, _dir) = cli(&db);
    let mut child = cmd
        .args([
            "user",
            "create",
            "--username",
            "ops",
            "--role",
            "bureau",
            "--region",
            "220521",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("region 220521"));

    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .args([
            "user",
            "create",
            "--username",
            "dept",
            "--role",
            "department",
            "--department",
            "42",
        ])
        .env("CREDIT_LISTS_NEW_USER_PASSWORD", "another long password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .args([
            "user",
            "create",
            "--username",
            "machine",
            "--role",
            "approval_system",
        ])
        .env("CREDIT_LISTS_NEW_USER_PASSWORD", "another long password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without a password source, and with a bad binding: clear errors, nothing created.
    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .args(["user", "create", "--username", "nopw", "--role", "admin"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .args(["user", "create", "--username", "bad", "--role", "bureau"])
        .env("CREDIT_LISTS_NEW_USER_PASSWORD", "another long password")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("region_code"));

    let mut conn = open_db(&db);
    let names: Vec<String> = users::table
        .order(users::id)
        .select(users::username)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(names, vec!["ops", "dept", "machine"]);
    assert!(credit_lists::audit::verify(&mut conn).unwrap().ok);
}

#[test]
fn audit_verify_command_reports_the_first_broken_link() {
    let (db, _d) = fresh_database();
    migrate(&db);
    let (mut cmd, _dir) = cli(&db);
    let out = cmd
        .args(["user", "create", "--username", "ops", "--role", "admin"])
        .env("CREDIT_LISTS_NEW_USER_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(out.status.success());
    let (mut cmd, _dir) = cli(&db);
    let out = cmd.args(["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 record(s) verified"));

    let mut conn = open_db(&db);
    diesel::sql_query("UPDATE audit_log SET actor_username = 'someone-else' WHERE id = 1")
        .execute(&mut *conn)
        .unwrap();
    let (mut cmd, _dir) = cli(&db);
    let out = cmd.args(["audit", "verify"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken at record 1"));
}

#[test]
fn openapi_command_prints_the_document() {
    let (mut cmd, _dir) = cli("unused.db");
    let out = cmd.arg("openapi").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        credit_lists::openapi::spec_json()
    );
}

#[test]
fn backup_and_restore_give_a_working_database() {
    if is_postgres() {
        // The documented procedure (docs/operations.md): pg_dump, pg_restore into an empty
        // database, and the restored copy is a working database with its audit chain intact.
        let (db, _d) = fresh_database();
        migrate(&db);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credit-lists.dump");
        let out = Command::new(pg_tool("pg_dump"))
            .args(["--format=custom", "--file"])
            .arg(&file)
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (copy, _c) = fresh_database();
        let out = Command::new(pg_tool("pg_restore"))
            .args(["--no-owner", "--dbname", &copy])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut conn = open_db(&copy);
        let n: i64 = departments::table.count().get_result(&mut *conn).unwrap();
        assert!(n >= 60);
        assert!(credit_lists::audit::verify(&mut conn).unwrap().ok);
        drop(conn);
        let (mut cmd, _dir) = cli(&copy);
        assert!(cmd
            .args(["audit", "verify"])
            .output()
            .unwrap()
            .status
            .success());
        return;
    }
    let (db, _d) = fresh_database();
    migrate(&db);
    let (mut cmd, dir) = cli(&db);
    let target = dir.path().join("backup.db");
    let out = cmd.args(["backup", "--to"]).arg(&target).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut conn = credit_lists::db::connect(
        &credit_lists::db::DatabaseUrl::Sqlite(target.clone()),
        1,
        false,
    )
    .unwrap()
    .get()
    .unwrap();
    let n: i64 = departments::table.count().get_result(&mut *conn).unwrap();
    assert!(n >= 60);
    drop(conn);
    // Restoring is using the copy: the binary works on it and its audit chain verifies.
    let copy_url = target.to_str().unwrap().to_string();
    let (mut cmd, _dir3) = cli(&copy_url);
    let out = cmd.args(["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Never over an existing file.
    let (mut cmd, _dir2) = cli(&db);
    let out = cmd.args(["backup", "--to"]).arg(&target).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn demo_seed_runs_twice_without_duplicates() {
    let (db, _d) = fresh_database();
    let pool =
        credit_lists::db::connect(&credit_lists::db::DatabaseUrl::parse(&db).unwrap(), 1, true)
            .unwrap();
    let mut conn = pool.get().unwrap();
    let first = credit_lists::demo::seed(&mut conn).unwrap();
    assert!(first.iter().all(|a| a.created));
    let second = credit_lists::demo::seed(&mut conn).unwrap();
    assert!(second.iter().all(|a| !a.created));
    let roles: Vec<String> = users::table
        .order(users::id)
        .select(users::role)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(roles.len(), first.len());
    for role in ["admin", "bureau", "department", "approval_system"] {
        assert!(roles.iter().any(|r| r == role), "{role}");
    }
}

/// Starts `serve` and returns the child with the address it printed.
fn start_server(db: &str, dir: &std::path::Path) -> (std::process::Child, String) {
    start_server_with(db, dir, true)
}

/// The real binary serving `db` (with the demo accounts when `demo`), and its address.
pub fn start_server_with(
    db: &str,
    dir: &std::path::Path,
    demo: bool,
) -> (std::process::Child, String) {
    start_server_env(db, dir, demo, &[])
}

/// As [`start_server_with`], with extra environment variables (settings).
pub fn start_server_env(
    db: &str,
    dir: &std::path::Path,
    demo: bool,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let mut args = vec!["--database-url", db, "serve", "--bind", "127.0.0.1:0"];
    if demo {
        args.push("--demo");
    }
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env("CREDIT_LISTS_JWT_SECRET", SECRET)
        .env("CREDIT_LISTS_PII_KEY", PII_KEY)
        .env("CREDIT_LISTS_RECEIPT_SIGNING_KEY", RECEIPT_KEY)
        .env("CREDIT_LISTS_LOG_LEVEL", "warn")
        .env_remove("CREDIT_LISTS_CONFIG")
        .envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("credit-lists listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, address)
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start_server(&db, dir.path());
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"username": "demo-admin", "password": "demo-admin-pass"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let res = client
            .post(format!("{address}/api/v1/departments"))
            .bearer_auth(token)
            .json(&json!({"name": format!("崩溃测试{i}"), "region_code": "220524", "kind": "unit"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        acknowledged.push(res.json::<Value>().await.unwrap()["id"].as_i64().unwrap() as i32);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mut conn = open_db(&db);
    let found: Vec<i32> = departments::table
        .filter(departments::region_code.eq("220524"))
        .filter(departments::id.ge(1000))
        .order(departments::id)
        .select(departments::id)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(found, acknowledged);
    assert!(credit_lists::audit::verify(&mut conn).unwrap().ok);

    // It starts again on the same data, and the demo seed does not duplicate anything.
    let (mut child, address) = start_server(&db, dir.path());
    let res = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"username": "demo-admin", "password": "demo-admin-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
    let n: i64 = users::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(n, 6);
}

/// Receipts enter the signed receipt log without anyone asking for a checkpoint: the server's
/// own sequencer appends them and signs one (here every second instead of every minute).
#[tokio::test]
async fn the_server_signs_checkpoints_of_the_receipt_log_by_itself() {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start_server_env(
        &db,
        dir.path(),
        true,
        &[("CREDIT_LISTS_RECEIPT_SEQUENCE_SECS", "1")],
    );
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"username": "demo-admin", "password": "demo-admin-pass"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let mut ids = Vec::new();
    for code in [crate::entries::uscc(901), crate::entries::uscc(902)] {
        let res = client
            .post(format!("{address}/api/v1/credit-checks"))
            .bearer_auth(token)
            .json(&json!({"subject_code": code, "field": "administrative_licensing"}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["check_id"].as_i64().unwrap());
    }
    let mut conn = open_db(&db);
    let count = |conn: &mut credit_lists::db::PooledConn, q: &str| -> i64 {
        diesel::select(sql::<BigInt>(q))
            .get_result(&mut **conn)
            .unwrap()
    };
    // Bounded wait for the sequencer's next rounds (not a timing assertion).
    let mut leaves = 0;
    for _ in 0..60 {
        leaves = count(
            &mut conn,
            &format!(
                "(SELECT COUNT(*) FROM receipt_log_leaves WHERE check_id IN ({}, {}))",
                ids[0], ids[1]
            ),
        );
        if leaves >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(leaves, 2, "the sequencer did not append the receipts");
    let signed = count(
        &mut conn,
        "(SELECT COUNT(*) FROM receipt_checkpoints WHERE tree_size = 2)",
    );
    assert_eq!(signed, 1, "no checkpoint of the two receipts");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The real binary as [`start_server_env`] does, with its log (debug level) written to `log`.
fn start_server_logged(
    db: &str,
    dir: &std::path::Path,
    log: &std::path::Path,
) -> (std::process::Child, String) {
    let out = std::fs::File::create(log).unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env("CREDIT_LISTS_JWT_SECRET", SECRET)
        .env("CREDIT_LISTS_PII_KEY", PII_KEY)
        .env("CREDIT_LISTS_RECEIPT_SIGNING_KEY", RECEIPT_KEY)
        .env("CREDIT_LISTS_LOG_LEVEL", "debug")
        .env_remove("RUST_LOG")
        .env_remove("CREDIT_LISTS_CONFIG")
        .args([
            "--database-url",
            db,
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--demo",
        ])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find_map(|l| l.strip_prefix("credit-lists listening on "))
        {
            return (child, line.split_whitespace().next().unwrap().to_string());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
    panic!("the server did not start");
}

/// A PostgreSQL client program: the newest installed server version's, else from `PATH`.
fn pg_tool(name: &str) -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| {
            let mut v: Vec<_> = dirs
                .flatten()
                .map(|d| d.path().join("bin").join(name))
                .collect();
            v.sort();
            v.pop()
        })
        .filter(|p| p.exists())
        .unwrap_or_else(|| name.into())
}

/// Everything a database holds, as bytes: the SQLite file with its WAL, or `pg_dump` output.
pub fn dump(db: &str) -> Vec<u8> {
    if db.starts_with("postgres") {
        let pg_dump = pg_tool("pg_dump");
        let out = Command::new(pg_dump)
            .arg(db)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    } else {
        let path = db
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let mut bytes = std::fs::read(path).unwrap();
        // With the check receipts' log, a second SQLite database beside the first, and its WAL.
        for suffix in ["-wal", "-journal", "-receipts.db", "-receipts.db-wal"] {
            if let Ok(more) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(more);
            }
        }
        bytes
    }
}

/// The id of the demo's court black-list scope item (`FY-HEI-01`), read through the API.
async fn demo_court_scope(client: &reqwest::Client, address: &str, token: &str) -> Value {
    let items: Value = client
        .get(format!(
            "{address}/api/v1/four-list-items?kind=black_scope&per_page=100"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "FY-HEI-01")
        .expect("the demo court scope")["id"]
        .clone()
}

/// Personal ID numbers sent in every way the API takes them — entries of individuals, a legal
/// representative's number, credit checks single and batch, a subject read by number, a search —
/// appear in clear neither in the database (file or `pg_dump`) nor in the service's debug log.
#[tokio::test]
async fn personal_id_numbers_are_in_clear_in_neither_the_database_nor_the_log() {
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("service.log");
    let (mut child, address) = start_server_logged(&db, dir.path(), &log);
    let client = reqwest::Client::new();
    let admin = login_to(&client, &address, "demo-admin").await;
    let approval = login_to(&client, &address, "demo-approval").await;
    let scope = demo_court_scope(&client, &address, &admin).await;
    let post_entry = |body: Value| {
        let (client, address, admin) = (client.clone(), address.clone(), admin.clone());
        async move {
            let res = client
                .post(format!("{address}/api/v1/list-entries"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::CREATED,
                "{}",
                res.text().await.unwrap()
            );
        }
    };
    let ids: Vec<String> = (901..905).map(crate::entries::id_number).collect();
    for (i, id) in ids.iter().enumerate().take(3) {
        let mut body = crate::entries::entry("black", 0, id, &format!("通法执〔2026〕9{i}号"));
        body["scope_item_id"] = scope.clone();
        body["department_id"] = json!(15);
        body["subject_name"] = json!("王某某");
        body.as_object_mut().unwrap().remove("legal_representative");
        post_entry(body).await;
    }
    // An enterprise whose legal representative's number is recorded.
    let mut body =
        crate::entries::entry("black", 0, &crate::entries::uscc(990), "通法执〔2026〕99号");
    body["scope_item_id"] = scope.clone();
    body["department_id"] = json!(15);
    body["legal_representative_id"] = json!(ids[3]);
    post_entry(body).await;
    for id in &ids {
        let res = client
            .post(format!("{address}/api/v1/credit-checks"))
            .bearer_auth(&approval)
            .json(&json!({"subject_code": id, "field": "administrative_licensing", "reference": "XK-1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = client
            .get(format!("{address}/api/v1/subjects/{id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success() || res.status() == StatusCode::NOT_FOUND);
        client
            .get(format!("{address}/api/v1/subjects?q={id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
    }
    let res = client
        .post(format!("{address}/api/v1/credit-checks/batch"))
        .bearer_auth(&approval)
        .json(&json!({"subject_codes": ids, "field": "administrative_licensing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("DEBUG") || text.contains("INFO"),
        "a log was written"
    );
    let data = dump(&db);
    assert!(data.len() > 10_000, "a real dump");
    for id in &ids {
        assert!(!text.contains(id.as_str()), "{id} in the log");
        let needle = id.as_bytes();
        assert!(
            !data.windows(needle.len()).any(|w| w == needle),
            "{id} in clear in the database"
        );
    }
}

/// Every resident ID number with a valid check character (and a real birth date) found in
/// `bytes`: any 18-byte run of 17 ASCII digits and a digit or `X`/`x`, wherever it stands.
fn valid_id_numbers_in(bytes: &[u8]) -> std::collections::BTreeSet<String> {
    bytes
        .windows(18)
        .filter(|w| {
            w[..17].iter().all(u8::is_ascii_digit)
                && (w[17].is_ascii_digit() || w[17] == b'X' || w[17] == b'x')
        })
        .filter_map(|w| {
            let text = std::str::from_utf8(w).ok()?;
            credit_lists::domain::IdNumber::parse(text)
                .ok()
                .map(|id| id.as_str().to_string())
        })
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_scan_finds_id_numbers_however_they_are_surrounded() {
    let id = crate::entries::id_number(1);
    for text in [
        id.clone(),
        format!("x{id}y"),
        format!("9{id}"),
        format!("\0\u{1}{}\"", id.to_lowercase()),
    ] {
        assert_eq!(
            valid_id_numbers_in(text.as_bytes())
                .into_iter()
                .collect::<Vec<_>>(),
            vec![id.clone()],
            "{text}"
        );
    }
    for text in [
        "110105194912310021",
        "220502********0011",
        "2026-12-06T08:00:00",
    ] {
        assert!(valid_id_numbers_in(text.as_bytes()).is_empty(), "{text}");
    }
}

/// The real binary in demo mode (its 140 individuals listed, published and removed, cases about
/// them shared) plus, through the API, entries of individuals published and removed, an ID number
/// typed into free text, and credit checks by number; then a backup. No valid ID number is in
/// clear in anything the service wrote: the database (SQLite file, WAL and receipt log, or
/// `pg_dump`), every file in its data directory and working directory, the debug log, the backup.
#[tokio::test]
async fn no_valid_id_number_is_in_clear_in_anything_the_service_writes_after_a_demo_run() {
    use credit_lists::schema::feed_events;
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("service.log");
    let (mut child, address) = start_server_logged(&db, dir.path(), &log);
    let client = reqwest::Client::new();
    let admin = login_to(&client, &address, "demo-admin").await;
    let approval = login_to(&client, &address, "demo-approval").await;
    let scope = demo_court_scope(&client, &address, &admin).await;
    let ids: Vec<String> = (911..915).map(crate::entries::id_number).collect();
    let mut entries = Vec::new();
    for (i, id) in ids.iter().enumerate().take(3) {
        let mut body = crate::entries::entry("black", 0, id, &format!("通法执〔2026〕8{i}号"));
        body["scope_item_id"] = scope.clone();
        body["department_id"] = json!(15);
        body["subject_name"] = json!("王某某");
        // Free text with another person's number in it.
        body["facts"] = json!(format!("与{}共同拒不履行生效判决", ids[3]));
        body["internal_note"] = json!(format!("身份证{id}已核实"));
        body.as_object_mut().unwrap().remove("legal_representative");
        let body = crate::entries::with_notice(body);
        let res = client
            .post(format!("{address}/api/v1/list-entries"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let e = v["id"].as_i64().unwrap();
        let res = client
            .post(format!("{address}/api/v1/list-entries/{e}/publish"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        entries.push(e);
    }
    let res = client
        .post(format!(
            "{address}/api/v1/list-entries/{}/remove",
            entries[0]
        ))
        .bearer_auth(&admin)
        .json(&json!({"reason": "revoked", "note": format!("{}申请撤销", ids[0])}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for id in &ids {
        let res = client
            .post(format!("{address}/api/v1/credit-checks"))
            .bearer_auth(&approval)
            .json(
                &json!({"subject_code": id, "field": "administrative_licensing",
                          "reference": format!("XK-{id}"), "purpose": format!("核查{id}")}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = client
            .get(format!("{address}/api/v1/subjects/{id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success() || res.status() == StatusCode::NOT_FOUND);
    }
    let res = client
        .post(format!("{address}/api/v1/credit-checks/batch"))
        .bearer_auth(&approval)
        .json(&json!({"subject_codes": ids, "field": "administrative_licensing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The feed's readers still get full numbers (so the scan below is not vacuous).
    let feed: Value = client
        .get(format!("{address}/api/v1/feed?limit=1000"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let in_feed = valid_id_numbers_in(feed.to_string().as_bytes());
    assert!(in_feed.contains(&ids[1]), "the feed gives full numbers");
    child.kill().unwrap();
    child.wait().unwrap();

    // What the run covered: individuals published and removed, shared cases about them.
    let mut conn = open_db(&db);
    for ty in ["list_entry.published", "list_entry.removed", "case.shared"] {
        let sealed: i64 = feed_events::table
            .filter(feed_events::event_type.eq(ty))
            .filter(feed_events::payload.like("%\"$pii\"%"))
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert!(sealed > 0, "{ty} events about individuals");
    }
    drop(conn);

    let mut written: Vec<(String, Vec<u8>)> = vec![
        ("database".into(), dump(&db)),
        ("log".into(), std::fs::read(&log).unwrap()),
    ];
    assert!(written[0].1.len() > 100_000, "a real dump");
    let text = String::from_utf8_lossy(&written[1].1);
    assert!(
        text.contains("DEBUG") || text.contains("INFO"),
        "a log was written"
    );
    let mut dirs = vec![dir.path().to_path_buf()];
    if !is_postgres() {
        let path = std::path::PathBuf::from(
            db.trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:"),
        );
        dirs.push(path.parent().unwrap().to_path_buf());
        // A backup made with the command line.
        let (mut cmd, backup_dir) = cli(&db);
        let target = backup_dir.path().join("backup.db");
        let out = cmd.args(["backup", "--to"]).arg(&target).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        written.push(("backup".into(), std::fs::read(&target).unwrap()));
    }
    for d in &dirs {
        for file in files_under(d) {
            written.push((
                file.display().to_string(),
                std::fs::read(&file).unwrap_or_default(),
            ));
        }
    }
    for (what, bytes) in &written {
        let found = valid_id_numbers_in(bytes);
        assert!(
            found.is_empty(),
            "{} valid ID numbers in clear in {what}, e.g. {:?}",
            found.len(),
            found.iter().next().map(|id| format!("{}…", &id[..6]))
        );
    }
}

pub async fn login_to(client: &reqwest::Client, address: &str, user: &str) -> String {
    let v: Value = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": format!("{user}-pass")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// The real binary is killed with SIGKILL while a 3,000-row import, a stream of credit checks and
/// a repair confirmation are in flight. After a restart: the import is all or nothing (and all if it
/// was acknowledged), every acknowledged check has its receipt, the repair is completed exactly when
/// its entry is removed and its feed event exists, and the audit chain verifies.
#[tokio::test]
async fn sigkill_during_an_import_a_check_stream_and_a_repair_confirmation_leaves_no_half_write() {
    use credit_lists::schema::{credit_checks, feed_events, list_entries, repairs};
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start_server(&db, dir.path());
    let client = reqwest::Client::new();
    let tax = login_to(&client, &address, "demo-tax").await;
    let approval = login_to(&client, &address, "demo-approval").await;
    let city = login_to(&client, &address, "demo-city-bureau").await;

    // A repair filed by the department, waiting for the bureau's confirmation.
    let filed: Value = client
        .get(format!("{address}/api/v1/repairs?status=filed"))
        .bearer_auth(&city)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let repair = filed["items"][0].clone();
    let (repair_id, entry_id) = (
        repair["id"].as_i64().expect("a filed demo repair") as i32,
        repair["entry_id"].as_i64().unwrap() as i32,
    );

    let day = (crate::entries::today() - chrono::Duration::days(3)).to_string();
    let mut csv = vec![crate::import::HEADER.to_string()];
    for n in 0..3000u32 {
        csv.push(crate::import::row(
            "黑名单",
            &crate::entries::uscc(70_000 + n),
            "某某商贸有限公司",
            "SW-HEI-01",
            &format!("通税〔2026〕K{n}号"),
            &day,
        ));
    }
    // The check stream runs first, so that some checks are acknowledged before the import starts.
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let checks = {
        let (client, address, acked) = (client.clone(), address.clone(), acked.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..100_000u32 {
                let res = client
                    .post(format!("{address}/api/v1/credit-checks"))
                    .bearer_auth(&approval)
                    .json(&json!({"subject_code": crate::entries::uscc(n % 500), "field": "administrative_licensing"}))
                    .send()
                    .await;
                let Ok(res) = res else { break };
                if res.status() != StatusCode::CREATED {
                    break;
                }
                let Ok(v) = res.json::<Value>().await else {
                    break;
                };
                acknowledged.push(v["check_id"].as_i64().unwrap() as i32);
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            acknowledged
        })
    };
    for _ in 0..3000 {
        if acked.load(std::sync::atomic::Ordering::SeqCst) >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let import = {
        let (client, address, tax) = (client.clone(), address.clone(), tax.clone());
        let body = csv.join("\n").into_bytes();
        tokio::spawn(async move {
            client
                .post(format!("{address}/api/v1/list-entries/import?publish=true"))
                .bearer_auth(&tax)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await
                .map(|r| r.status())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let confirm = {
        let (client, address) = (client.clone(), address.clone());
        let version = repair["version"].clone();
        tokio::spawn(async move {
            client
                .post(format!("{address}/api/v1/repairs/{repair_id}/confirm"))
                .bearer_auth(&city)
                .json(&json!({"version": version}))
                .send()
                .await
                .map(|r| r.status())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let imported = import.await.unwrap();
    let acknowledged = checks.await.unwrap();
    let confirmed = confirm.await.unwrap();
    // The restart replays the receipt log (SQLite: acknowledged receipts are durable in the log
    // and reach the table after the answer) before it serves.
    let (mut again, _) = start_server(&db, dir.path());
    again.kill().unwrap();
    again.wait().unwrap();

    let mut conn = open_db(&db);
    let rows: i64 = list_entries::table
        .filter(list_entries::document_number.like("通税〔2026〕K%"))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    eprintln!(
        "at the kill: import {imported:?} ({rows} rows), {} checks acknowledged, confirmation {confirmed:?}",
        acknowledged.len()
    );
    assert!(rows == 0 || rows == 3000, "half an import: {rows} rows");
    if matches!(imported, Ok(s) if s.is_success()) {
        assert_eq!(rows, 3000, "an acknowledged import is all there");
    }
    let stored: i64 = credit_checks::table
        .filter(credit_checks::id.eq_any(&acknowledged))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(
        stored,
        acknowledged.len() as i64,
        "every acknowledged check is stored"
    );
    assert!(!acknowledged.is_empty(), "checks were running");
    let status: String = repairs::table
        .find(repair_id)
        .select(repairs::status)
        .first(&mut *conn)
        .unwrap();
    let entry_status: String = list_entries::table
        .find(entry_id)
        .select(list_entries::status)
        .first(&mut *conn)
        .unwrap();
    let events: i64 = feed_events::table
        .filter(feed_events::entity_type.eq("repair"))
        .filter(feed_events::entity_id.eq(repair_id.to_string()))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    let completed = status == "completed";
    assert_eq!(
        completed,
        entry_status == "removed",
        "{status} / {entry_status}"
    );
    assert_eq!(completed, events == 1, "{status} / {events} feed events");
    if matches!(confirmed, Ok(s) if s.is_success()) {
        assert!(completed, "an acknowledged confirmation is kept");
    }
    assert!(credit_lists::audit::verify(&mut conn).unwrap().ok);
    drop(conn);

    // It starts again on the same data and answers.
    let (mut child, address) = start_server(&db, dir.path());
    let res = client.get(format!("{address}/ready")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SQLite: a backup made with the command line while a stream of checks runs holds every receipt
/// acknowledged before the backup began, including those still in the receipt log (the backup
/// folds it into the table before copying). PostgreSQL stores receipts before acknowledging them,
/// and its backup is `pg_dump`'s (see `backup_and_restore_give_a_working_database`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_a_check_stream_holds_every_receipt_acknowledged_before_it() {
    use credit_lists::schema::credit_checks;
    if is_postgres() {
        return;
    }
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    // The folder stores receipts only every 10 minutes: without a reader waiting for them, every
    // receipt stays in the log, and only the backup's own fold can put it in the copy.
    let (mut child, address) = start_server_env(
        &db,
        dir.path(),
        true,
        &[("CREDIT_LISTS_RECEIPT_FOLD_MS", "600000")],
    );
    let client = reqwest::Client::new();
    let approval = login_to(&client, &address, "demo-approval").await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i32>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let streams: Vec<_> = (0..4u32)
        .map(|k| {
            let (client, address, approval) = (client.clone(), address.clone(), approval.clone());
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = k;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let res = client
                        .post(format!("{address}/api/v1/credit-checks"))
                        .bearer_auth(&approval)
                        .json(&json!({"subject_code": crate::entries::uscc(n % 500), "field": "administrative_licensing"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::CREATED);
                    let v: Value = res.json().await.unwrap();
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(v["check_id"].as_i64().unwrap() as i32);
                    n += 4;
                }
            })
        })
        .collect();
    for _ in 0..3000 {
        if acknowledged.lock().unwrap().len() >= 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before: Vec<i32> = acknowledged.lock().unwrap().clone();
    let (mut cmd, backup_dir) = cli(&db);
    let target = backup_dir.path().join("backup.db");
    let out = {
        let target = target.clone();
        tokio::task::spawn_blocking(move || cmd.args(["backup", "--to"]).arg(&target).output())
            .await
            .unwrap()
            .unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for s in streams {
        s.await.unwrap();
    }
    let after = acknowledged.lock().unwrap().len();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(after > before.len(), "checks ran during the backup");
    let mut conn = credit_lists::db::connect(
        &credit_lists::db::DatabaseUrl::Sqlite(target.clone()),
        1,
        false,
    )
    .unwrap()
    .get()
    .unwrap();
    let stored: Vec<i32> = credit_checks::table
        .filter(credit_checks::id.eq_any(&before))
        .select(credit_checks::id)
        .load(&mut *conn)
        .unwrap();
    let missing: Vec<&i32> = before.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} receipts acknowledged before the backup are not in it: {missing:?}",
        missing.len(),
        before.len()
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A bounded soak of the real binary: several clients mix credit checks, feedback, case filing and
/// list reads for `CREDIT_LISTS_SOAK_SECS` seconds (default 15; CI runs longer). At the end every
/// request was answered with success, the database holds exactly what was acknowledged, and the
/// resident memory did not grow beyond a small bound after warm-up. `docs/performance.md` has the
/// figures of a longer run.
#[tokio::test]
async fn soak_mixed_load_loses_nothing_and_memory_stays_flat() {
    use credit_lists::schema::{cases, check_feedback, credit_checks};
    let secs: u64 = std::env::var("CREDIT_LISTS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start_server(&db, dir.path());
    let pid = child.id();
    let client = reqwest::Client::new();
    let tax = login_to(&client, &address, "demo-tax").await;
    let approval = login_to(&client, &address, "demo-approval").await;
    let get = |path: String, token: String| {
        let (client, address) = (client.clone(), address.clone());
        async move {
            client
                .get(format!("{address}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // A valid case: one of the department's black entries in force and its punishment measure.
    let entries = get(
        "/api/v1/list-entries?department_id=52&list_type=black&status=in_force&per_page=1".into(),
        tax.clone(),
    )
    .await;
    let entry = entries["items"][0].clone();
    let items = get(
        "/api/v1/four-list-items?kind=punishment_measures&per_page=100".into(),
        tax.clone(),
    )
    .await;
    let measure = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "SW-CJ-01")
        .expect("the demo measure")["id"]
        .clone();
    let case_body = json!({
        "title": "浸泡测试案例", "kind": "punishment",
        "subjects": [{"code": entry["subject"]["code"], "name": entry["subject"]["name"]}],
        "entry_ids": [entry["id"]], "measure_item_ids": [measure], "department_ids": [],
        "field": "government_procurement",
        "case_date": crate::entries::today().to_string(), "summary": "依法限制其参与政府采购活动。"
    });
    let count = |db: &str| -> (i64, i64, i64) {
        let mut conn = open_db(db);
        (
            credit_checks::table.count().get_result(&mut *conn).unwrap(),
            check_feedback::table
                .count()
                .get_result(&mut *conn)
                .unwrap(),
            cases::table.count().get_result(&mut *conn).unwrap(),
        )
    };
    let before = count(&db);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let warm_at = std::time::Instant::now() + std::time::Duration::from_secs(secs / 4);
    let warm_rss = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    // Two checking clients; every fifth check gets feedback.
    for c in 0..2u32 {
        let (client, address, token) = (client.clone(), address.clone(), approval.clone());
        let warm_rss = warm_rss.clone();
        tasks.push(tokio::spawn(async move {
            let (mut checks, mut feedback, mut errors, mut n) = (0u64, 0u64, Vec::new(), c);
            while std::time::Instant::now() < deadline {
                if std::time::Instant::now() >= warm_at && c == 0 && warm_rss.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    warm_rss.store(rss_kib(pid), std::sync::atomic::Ordering::SeqCst);
                }
                n += 2;
                let res = client
                    .post(format!("{address}/api/v1/credit-checks"))
                    .bearer_auth(&token)
                    .json(&json!({"subject_code": crate::entries::uscc(n % 3000), "field": "government_procurement"}))
                    .send()
                    .await
                    .unwrap();
                if res.status() != StatusCode::CREATED {
                    errors.push(format!("check {}", res.status()));
                    continue;
                }
                checks += 1;
                let id = res.json::<Value>().await.unwrap()["check_id"].clone();
                if n % 5 == 0 {
                    let res = client
                        .post(format!("{address}/api/v1/credit-checks/{id}/feedback"))
                        .bearer_auth(&token)
                        .json(&json!({"decision": "approved", "measures_applied": [], "decided_at": "2026-11-01T08:00:00"}))
                        .send()
                        .await
                        .unwrap();
                    if res.status() == StatusCode::CREATED {
                        feedback += 1;
                    } else {
                        errors.push(format!("feedback {}", res.status()));
                    }
                }
            }
            (checks, feedback, 0u64, errors)
        }));
    }
    // One client filing cases (each with its own idempotency key), one reading lists.
    {
        let (client, address, token, body) = (
            client.clone(),
            address.clone(),
            tax.clone(),
            case_body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut filed, mut errors, mut n) = (0u64, Vec::new(), 0u32);
            while std::time::Instant::now() < deadline {
                n += 1;
                let res = client
                    .post(format!("{address}/api/v1/cases"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("soak-{n}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                if res.status() == StatusCode::CREATED {
                    filed += 1;
                } else {
                    errors.push(format!(
                        "case {}: {}",
                        res.status(),
                        res.text().await.unwrap()
                    ));
                }
            }
            (0, 0, filed, errors)
        }));
    }
    {
        let (client, address, token) = (client.clone(), address.clone(), tax.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            while std::time::Instant::now() < deadline {
                for path in [
                    "/api/v1/list-entries?per_page=50",
                    "/api/v1/public/list-entries?per_page=50",
                ] {
                    let res = client
                        .get(format!("{address}{path}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap();
                    if res.status() != StatusCode::OK {
                        errors.push(format!("read {}", res.status()));
                    }
                }
            }
            (0, 0, 0, errors)
        }));
    }
    let (mut checks, mut feedback, mut filed, mut errors) = (0, 0, 0, Vec::new());
    for t in tasks {
        let (c, f, k, e) = t.await.unwrap();
        checks += c;
        feedback += f;
        filed += k;
        errors.extend(e);
    }
    let end_rss = rss_kib(pid);
    let warm = warm_rss.load(std::sync::atomic::Ordering::SeqCst);
    child.kill().unwrap();
    child.wait().unwrap();
    // The restart replays the receipt log (SQLite: acknowledged receipts are durable in the log
    // and reach the table after the answer) before it serves.
    let (mut again, _) = start_server(&db, dir.path());
    again.kill().unwrap();
    again.wait().unwrap();
    eprintln!(
        "soak {secs} s: {checks} checks, {feedback} feedback, {filed} cases, RSS {warm} KiB after warm-up, {end_rss} KiB at the end"
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let after = count(&db);
    assert_eq!(
        after.0 - before.0,
        checks as i64,
        "receipts = acknowledged checks"
    );
    assert_eq!(
        after.1 - before.1,
        feedback as i64,
        "feedback = acknowledged feedback"
    );
    assert_eq!(
        after.2 - before.2,
        filed as i64,
        "cases = acknowledged filings"
    );
    assert!(checks > 0 && filed > 0);
    assert!(warm > 0 && end_rss > 0, "RSS read");
    assert!(
        end_rss < warm + 64 * 1024,
        "memory grew from {warm} KiB to {end_rss} KiB"
    );
}
