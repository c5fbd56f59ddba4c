use std::sync::OnceLock;

use credit_lists::audit::Actor;
use credit_lists::auth::Role;
use credit_lists::config::{Layer, Settings};
use credit_lists::db::{self, DatabaseUrl, DbConnection, Pool};
use credit_lists::startup::Application;
use credit_lists::users::{self, NewUser};
use diesel::prelude::*;
use diesel::Connection;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
/// The PII master key of every test server (64 hex characters).
pub const PII_KEY: &str = "7465737420706969206b657920303132333435363738396162636465663031ff";
/// The receipt signing key (Ed25519 seed) of every test server.
pub const RECEIPT_KEY: &str = "72656365697074207369676e696e67206b657920666f722074657374732e2e01";
pub const PASSWORD: &str = "correct horse battery staple";

/// Department ids from the seed migration.
pub const DEPT_SCJG: i32 = 42; // 市市场监督管理局
pub const DEPT_TAX: i32 = 52; // 市税务局

pub struct TestApp {
    pub address: String,
    pub db_url: String,
    pub pool: Pool,
    pub client: reqwest::Client,
    _db: Option<TestDb>,
}

/// A test's own database, removed when dropped: the SQLite file's temporary directory, or the
/// PostgreSQL database (dropped with `FORCE`, so a whole suite does not leave gigabytes of test
/// databases on the server's disk while it runs).
pub struct TestDb {
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// A fresh database: an SQLite file in a temporary directory, or a new PostgreSQL database on the
/// server named by `TEST_DATABASE_URL`. It lives as long as the returned [`TestDb`].
pub fn fresh_database() -> (String, TestDb) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("cl_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("cannot reach TEST_DATABASE_URL: {e}"));
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create test database");
            let (path, query) = admin_url.split_once('?').unwrap_or((&admin_url, ""));
            let base = path.rsplit_once('/').map(|(b, _)| b).unwrap_or(path);
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            let db = TestDb {
                _dir: None,
                postgres: Some((admin_url.clone(), name.clone())),
            };
            (format!("{base}/{name}{query}"), db)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("test.db");
            let db = TestDb {
                _dir: Some(dir),
                postgres: None,
            };
            (path.to_string_lossy().to_string(), db)
        }
    }
}

pub fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

pub fn test_settings(db_url: &str) -> Settings {
    let layer = Layer {
        database_url: Some(db_url.to_string()),
        bind: Some("127.0.0.1:0".into()),
        jwt_secret: Some(SECRET.into()),
        pii_key: Some(PII_KEY.into()),
        receipt_signing_key: Some(RECEIPT_KEY.into()),
        pool_size: Some(4),
        log_level: Some("warn".into()),
        ..Layer::default()
    };
    Settings::resolve(layer, false).expect("test settings")
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            credit_lists::telemetry::init(credit_lists::config::LogFormat::Text, "info");
        }
    });
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (db_url, dir) = fresh_database();
    let mut app = spawn_on(&db_url, tweak).await;
    app._db = Some(dir);
    app
}

/// Another server on an existing database (e.g. after a key rotation).
pub async fn spawn_on(db_url: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let mut settings = test_settings(db_url);
    tweak(&mut settings);
    let app = Application::build(settings).expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db_url: db_url.to_string(),
        pool,
        client: reqwest::Client::new(),
        _db: None,
    }
}

pub struct Account {
    pub id: i32,
    pub token: String,
}

impl TestApp {
    /// Keeps `db` (removed when this app is dropped).
    pub fn keep_db(&mut self, db: TestDb) {
        self._db = Some(db);
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool.get().expect("db connection")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates an account directly in the database (as an operator would with the CLI).
    pub fn create_user(
        &self,
        username: &str,
        role: Role,
        department_id: Option<i32>,
        region: Option<&str>,
    ) -> i32 {
        let mut conn = self.conn();
        db::write_tx(&mut conn, |c| {
            users::create(
                c,
                &Actor::system("test"),
                NewUser {
                    username: username.into(),
                    display_name: None,
                    password: PASSWORD.into(),
                    role,
                    department_id,
                    region_code: region.map(str::to_string),
                },
            )
        })
        .expect("create user")
        .id
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("request")
    }

    pub async fn login_ok(&self, username: &str) -> Value {
        let res = self.login(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {username}");
        res.json().await.unwrap()
    }

    /// Creates an account and logs it in.
    pub async fn account(
        &self,
        username: &str,
        role: Role,
        department_id: Option<i32>,
        region: Option<&str>,
    ) -> Account {
        let id = self.create_user(username, role, department_id, region);
        let tokens = self.login_ok(username).await;
        Account {
            id,
            token: tokens["access_token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn admin(&self) -> Account {
        self.account("admin", Role::Admin, None, None).await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub fn audit_count(&self) -> i64 {
        use credit_lists::schema::audit_log;
        audit_log::table
            .count()
            .get_result(&mut *self.conn())
            .unwrap()
    }

    pub fn raw_conn(&self) -> DbConnection {
        use diesel::r2d2::ManageConnection;
        db::ConnectionManager::new(DatabaseUrl::parse(&self.db_url).unwrap())
            .connect()
            .unwrap()
    }
}

/// Asserts a problem+json response with this status and code; returns the body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "problem code in {body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], format!("urn:credit-lists:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert!(body["errors"].is_array(), "{body}");
    body
}

/// The names of the fields a problem lists.
pub fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// [`spawn_on`], also returning the server's handle so a test can stop it (and its feed push
/// worker) as a shutdown would.
pub async fn spawn_on_stoppable(
    db_url: &str,
    tweak: impl FnOnce(&mut Settings),
) -> (TestApp, actix_web::dev::ServerHandle) {
    init_logs();
    let mut settings = test_settings(db_url);
    tweak(&mut settings);
    let app = Application::build(settings).expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool.clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (
        TestApp {
            address,
            db_url: db_url.to_string(),
            pool,
            client: reqwest::Client::new(),
            _db: None,
        },
        handle,
    )
}

/// One connection to an existing test database, without migrating it (what a second process
/// sees: used after the real binary was killed).
pub fn open_db(db: &str) -> credit_lists::db::PooledConn {
    credit_lists::db::connect(&credit_lists::db::DatabaseUrl::parse(db).unwrap(), 1, false)
        .unwrap()
        .get()
        .unwrap()
}

/// Waits until `done` holds, asking every 100 ms for at most 30 s (work the server does in the
/// background); fails the test with `what` when it never does.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(done(), "{what}");
}

/// Waits until the server's count at start of the days just ended (the last 31, in
/// `check_days_counted`) is over, so that receipts moved back in time afterwards are not counted
/// by it (it works back from the newest older day not counted).
pub async fn wait_for_the_start_count(app: &TestApp) {
    use credit_lists::schema::check_days_counted;
    wait_until("the days just ended were not counted at start", || {
        check_days_counted::table
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
            >= 30
    })
    .await;
}

/// Dates the receipt `check_id` at `at` directly in the database, behind the service's back (as if
/// it had been made then); fails the test unless exactly that one row changed.
pub fn redate_receipt(app: &TestApp, check_id: i64, at: chrono::NaiveDateTime) {
    use diesel::RunQueryDsl;
    let n = diesel::sql_query("UPDATE credit_checks SET checked_at = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Timestamp, _>(at)
        .bind::<diesel::sql_types::Integer, _>(check_id as i32)
        .execute(&mut *app.conn())
        .expect("redate a receipt");
    assert_eq!(n, 1, "receipt {check_id} redated");
}
