//! The command line: `serve`, `migrate`, `user …`, `audit verify`, `backup`, `openapi`,
//! `sync-national`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::audit::{self, Actor};
use crate::auth::Role;
use crate::config::{Layer, Settings, DEFAULT_CONFIG_FILE};
use crate::db::{self, DbConnection};
use crate::startup::Application;
use crate::users::{self, NewUser};

#[derive(Parser, Debug)]
#[command(
    name = "credit-lists",
    version,
    about = "Joint reward-and-punishment lists service (守信联合激励和失信联合惩戒) for Tonghua",
    long_about = "Joint reward-and-punishment lists service (守信联合激励和失信联合惩戒) for Tonghua.\n\n\
Settings come from a TOML config file (--config, CREDIT_LISTS_CONFIG, or ./credit-lists.toml if it \
exists), then CREDIT_LISTS_* environment variables, then flags. See docs/operations.md."
)]
pub struct Cli {
    /// Config file (TOML). Default: ./credit-lists.toml when it exists.
    #[arg(long, global = true, env = "CREDIT_LISTS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database: an SQLite path or sqlite://PATH, or postgres://… (default data/credit-lists.db).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service (migrates the database first).
    Serve {
        /// Load demo accounts (once; safe to repeat) and run without a configured JWT secret.
        #[arg(long)]
        demo: bool,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Audit trail tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Signed receipts: verify a saved answer offline, audit the receipt log.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Write a consistent copy of an SQLite database to FILE (PostgreSQL: use pg_dump).
    Backup {
        /// Where to write the copy; must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Print the OpenAPI document (JSON).
    Openapi,
    /// Sync a national source (国家层面认定) from its file: a full snapshot (default) or a delta.
    /// All or nothing; prints the report (JSON). Exits non-zero when rows are refused or the
    /// snapshot would end too many entries without --confirm.
    SyncNational {
        /// The source's name (POST /api/v1/national-sources).
        #[arg(long)]
        source: String,
        /// The file (.xlsx or .csv).
        file: PathBuf,
        /// The file lists changes only (column 变动类型: 新增 / 变更 / 移出).
        #[arg(long)]
        delta: bool,
        /// Report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Accept a snapshot that ends more than national_sync_max_end_percent of the entries.
        #[arg(long)]
        confirm: bool,
        /// The account the sync is recorded under (an admin or the city bureau); default the
        /// first active admin account.
        #[arg(long)]
        user: Option<String>,
    },
    /// Fill a benchmark database: demo accounts and four lists, then many subjects and list
    /// entries written in bulk (not audited). Never on a production database.
    BenchData {
        /// Subjects to generate (85% enterprises, 15% individuals, valid codes).
        #[arg(long, default_value_t = 1_000_000)]
        subjects: u32,
        /// List entries (70% black, 30% red; 80% in force, 10% expired, 10% removed).
        #[arg(long, default_value_t = 300_000)]
        entries: u32,
        /// Write 20,000 codes for the load script here (listed, unlisted and unknown mixed).
        #[arg(long)]
        codes_out: Option<PathBuf>,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account. The password is read from stdin (--password-stdin) or from the
    /// CREDIT_LISTS_NEW_USER_PASSWORD environment variable, never from an argument.
    Create(CreateUser),
    /// Set a new password for an account (ends its sessions); password as for `create`.
    SetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateUser {
    #[arg(long)]
    pub username: String,
    #[arg(long, value_enum)]
    pub role: Role,
    /// Department id (role `department`).
    #[arg(long)]
    pub department: Option<i32>,
    /// Region code (role `bureau`; 220500 is the whole city).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum ReceiptCommand {
    /// Check a saved check answer (JSON: a single check's answer, or one `check` of a batch)
    /// offline with the published keys; optionally its inclusion proof against a checkpoint.
    /// Exits non-zero with the reason when anything fails.
    Verify {
        /// The saved answer.
        file: PathBuf,
        /// The key set saved from GET /api/v1/receipt-keys.
        #[arg(long)]
        keys: PathBuf,
        /// An inclusion proof saved from GET /api/v1/credit-checks/{id}/inclusion.
        #[arg(long, requires = "checkpoint")]
        inclusion: Option<PathBuf>,
        /// The checkpoint the inclusion proof leads to (GET /api/v1/receipt-checkpoints/…).
        #[arg(long, requires = "inclusion")]
        checkpoint: Option<PathBuf>,
    },
    /// Recompute the receipt log from the receipt rows and check every signed checkpoint
    /// (reads every receipt). Exits non-zero naming what differs.
    Audit,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain; exits non-zero and names the first broken link if it is broken.
    Verify,
}

fn load_settings(cli: &Cli, flags: Layer, demo: bool) -> Result<Settings, String> {
    let file_layer = match &cli.config {
        Some(path) => Layer::from_file(path).map_err(|e| e.to_string())?,
        None if std::path::Path::new(DEFAULT_CONFIG_FILE).exists() => {
            Layer::from_file(std::path::Path::new(DEFAULT_CONFIG_FILE))
                .map_err(|e| e.to_string())?
        }
        None => Layer::default(),
    };
    let env_layer = Layer::from_env(|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    let flag_layer = Layer {
        database_url: cli.database_url.clone(),
        ..flags
    };
    Settings::resolve(file_layer.overlay(env_layer).overlay(flag_layer), demo)
        .map_err(|e| e.to_string())
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let line = s.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            return Err("no password on stdin".into());
        }
        Ok(line)
    } else {
        std::env::var("CREDIT_LISTS_NEW_USER_PASSWORD").map_err(|_| {
            "no password given: pass --password-stdin and pipe it in, or set CREDIT_LISTS_NEW_USER_PASSWORD".to_string()
        })
    }
}

/// An existing database (a mistyped path must not become a new empty one).
fn open_existing(settings: &Settings, run_migrations: bool) -> Result<DbConnection, String> {
    let mut conn = db::open_direct(&settings.database_url, false).map_err(|e| e.to_string())?;
    if run_migrations {
        db::migrate(&mut conn).map_err(|e| e.to_string())?;
    }
    Ok(conn)
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Command::Serve { demo, bind } => {
            let settings = load_settings(
                &cli,
                Layer {
                    bind: bind.clone(),
                    ..Layer::default()
                },
                *demo,
            )?;
            crate::telemetry::init(settings.log_format, &settings.log_level);
            settings.require_secret().map_err(|e| e.to_string())?;
            if settings.demo && settings.jwt_secret.is_none() {
                tracing::warn!(
                    "demo mode: signing tokens with a random secret made for this process"
                );
            }
            if let Some(path) = settings.demo_pii_key_path() {
                tracing::warn!(
                    key_file = %path.display(),
                    "demo mode: personal ID numbers are encrypted with the key in this file"
                );
            }
            let app = Application::build(settings.clone()).map_err(|e| e.to_string())?;
            if settings.demo {
                let mut conn = app.pool.get().map_err(|e| e.to_string())?;
                let accounts = crate::demo::seed(&mut conn).map_err(|e| e.to_string())?;
                if crate::demo::lists::seed(&mut conn, &app.state).map_err(|e| e.to_string())? {
                    println!("Demo four lists and red/black list entries created.");
                }
                if crate::demo::cases::seed(&mut conn, &app.state).map_err(|e| e.to_string())? {
                    println!("Demo cases (some drafts, submitted, shared with media reports) and a closed month created.");
                }
                crate::demo::print_accounts(&accounts);
            }
            tracing::info!(
                database = %settings.database_url.display(),
                bind = %settings.bind,
                port = app.port(),
                "credit-lists listening"
            );
            println!(
                "credit-lists listening on http://{} (API docs: /docs/)",
                settings.bind.replace(":0", &format!(":{}", app.port()))
            );
            actix_web::rt::System::new()
                .block_on(app.run_until_stopped())
                .map_err(|e| e.to_string())
        }
        Command::Migrate => {
            let settings = load_settings(&cli, Layer::default(), false)?;
            let url = settings.database_url.clone();
            let mut conn = db::open_direct(&url, true).map_err(|e| e.to_string())?;
            let n = db::migrate(&mut conn).map_err(|e| e.to_string())?;
            println!("{} migration(s) applied to {}", n, url.display());
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => {
            let settings = load_settings(&cli, Layer::default(), false)?;
            let password = read_password(args.password_stdin)?;
            let mut conn = open_existing(&settings, true)?;
            let input = NewUser {
                username: args.username.clone(),
                display_name: args.display_name.clone(),
                password,
                role: args.role,
                department_id: args.department,
                region_code: args.region.clone(),
            };
            let v = db::write_tx(&mut conn, |c| {
                users::create(c, &Actor::system("cli"), input)
            })
            .map_err(describe_api_error)?;
            println!(
                "created user {} (id {}, role {}{}{})",
                v.username,
                v.id,
                v.role.as_str(),
                v.department_name
                    .as_ref()
                    .map(|d| format!(", department {d}"))
                    .unwrap_or_default(),
                v.region_code
                    .as_ref()
                    .map(|r| format!(", region {r}"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::User(UserCommand::SetPassword {
            username,
            password_stdin,
        }) => {
            let settings = load_settings(&cli, Layer::default(), false)?;
            let password = read_password(*password_stdin)?;
            crate::auth::password::check_policy("password", username, &password)
                .map_err(|e| e.message)?;
            let mut conn = open_existing(&settings, true)?;
            db::write_tx(&mut conn, |c| {
                let row = users::find_by_username(c, username)?
                    .ok_or_else(|| crate::error::ApiError::not_found("user"))?;
                users::set_password(
                    c,
                    &Actor::system("cli"),
                    &row,
                    &password,
                    None,
                    "user.password_reset",
                )
            })
            .map_err(describe_api_error)?;
            println!("password of {username} changed; its sessions have ended");
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let settings = load_settings(&cli, Layer::default(), false)?;
            let mut conn = open_existing(&settings, false)?;
            let report = audit::verify(&mut conn).map_err(|e| e.to_string())?;
            match report.first_broken {
                None => {
                    println!("audit chain intact: {} record(s) verified", report.checked);
                    Ok(())
                }
                Some(b) => Err(format!(
                    "audit chain broken at record {}: {} ({} record(s) before it verified)",
                    b.id, b.reason, report.checked
                )),
            }
        }
        Command::Receipt(ReceiptCommand::Verify {
            file,
            keys,
            inclusion,
            checkpoint,
        }) => {
            let out = crate::checks::signing::verify_files(
                file,
                keys,
                inclusion.as_deref().zip(checkpoint.as_deref()),
            )?;
            println!("{out}");
            Ok(())
        }
        Command::Receipt(ReceiptCommand::Audit) => {
            let settings = load_settings(&cli, Layer::default(), false)?;
            let keys = crate::checks::signing::ReceiptKeys::from_settings(&settings)?;
            let mut conn = open_existing(&settings, false)?;
            let report = crate::checks::transparency::audit(&mut conn, &keys.published)?;
            if report.problems.is_empty() {
                println!(
                    "receipt log intact: {} receipt(s) ({} archived with their month, not \
                     read), {} checkpoint(s) verified",
                    report.leaves, report.archived, report.checkpoints
                );
                Ok(())
            } else {
                Err(format!(
                    "receipt log: {} problem(s):\n{}",
                    report.problems.len(),
                    report.problems.join("\n")
                ))
            }
        }
        Command::Backup { to } => {
            let settings = load_settings(&cli, Layer::default(), false)?;
            if to.exists() {
                return Err(format!("{} already exists", to.display()));
            }
            let mut conn = open_existing(&settings, false)?;
            // SQLite: receipts acknowledged but still in the receipt log are folded into the
            // table first, so the copy holds every receipt acknowledged before the backup began.
            if let (DbConnection::Sqlite(c), crate::db::DatabaseUrl::Sqlite(path)) =
                (&mut conn, &settings.database_url)
            {
                crate::checks::receipt_log::fold_beside(c, path)?;
            }
            backup(&mut conn, to)?;
            println!("backup written to {}", to.display());
            Ok(())
        }
        Command::BenchData {
            subjects,
            entries,
            codes_out,
            seed,
        } => {
            let mut settings = load_settings(&cli, Layer::default(), false)?;
            settings.bind = "127.0.0.1:0".into();
            // No check index: its refresher would poll the change log while the load's one
            // transaction writes it (on PostgreSQL each poll walks the uncommitted rows), then
            // load a million subjects for a process that is about to exit.
            settings.check_index = false;
            let app = Application::build(settings).map_err(|e| e.to_string())?;
            let mut conn = app.pool.get().map_err(|e| e.to_string())?;
            let s = crate::demo::bench::generate(
                &mut conn,
                &app.state,
                *subjects,
                *entries,
                codes_out.as_deref(),
                *seed,
            )?;
            println!(
                "{} subjects, {} entries generated; {} codes written",
                s.subjects, s.entries, s.codes_written
            );
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crate::openapi::spec_json());
            Ok(())
        }
        Command::SyncNational {
            source,
            file,
            delta,
            dry_run,
            confirm,
            user,
        } => {
            let mut settings = load_settings(&cli, Layer::default(), false)?;
            settings.bind = "127.0.0.1:0".into();
            let (format, file_sha256) = crate::imports::sniff_file(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let opened = std::fs::File::open(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let rows = crate::tabular::RowStream::open(
                std::io::BufReader::new(opened),
                format,
                settings.import_limits(),
            )
            .map_err(|e| format!("{}: {e}", file.display()))?;
            let headers = rows.headers().to_vec();
            let app = Application::build(settings).map_err(|e| e.to_string())?;
            let mut conn = app.pool.get().map_err(|e| e.to_string())?;
            let who = crate::national::store::cli_user(&mut conn, user.as_deref())
                .map_err(describe_api_error)?;
            let opts = crate::national::store::SyncOptions {
                mode: if *delta {
                    crate::national::store::SyncMode::Delta
                } else {
                    crate::national::store::SyncMode::Snapshot
                },
                dry_run: *dry_run,
                confirm: *confirm,
            };
            let report = crate::national::store::sync(
                &mut conn,
                &app.state,
                &who,
                crate::national::store::SourceRef::Name(source),
                &headers,
                rows,
                &file_sha256,
                opts,
            )
            .map_err(describe_api_error)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            if !report.errors.is_empty() {
                return Err(format!(
                    "{} row error(s); nothing was written",
                    report.errors.len()
                ));
            }
            Ok(())
        }
    }
}

fn backup(conn: &mut DbConnection, to: &std::path::Path) -> Result<(), String> {
    use diesel::RunQueryDsl;
    match conn {
        DbConnection::Sqlite(_) => {
            // VACUUM INTO writes a consistent snapshot while the service keeps running.
            let target = to.to_string_lossy().replace('\'', "''");
            diesel::sql_query(format!("VACUUM INTO '{target}'"))
                .execute(conn)
                .map_err(|e| format!("backup failed: {e}"))?;
            Ok(())
        }
        DbConnection::Postgresql(_) => Err(
            "backup of PostgreSQL is pg_dump's job: pg_dump --format=custom --file=… \"$DATABASE_URL\" (see docs/operations.md)"
                .into(),
        ),
    }
}

fn describe_api_error(e: crate::error::ApiError) -> String {
    match &e {
        crate::error::ApiError::Invalid { errors, .. } if !errors.is_empty() => errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => e.to_string(),
    }
}
