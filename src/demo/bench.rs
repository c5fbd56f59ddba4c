//! `credit-lists bench-data`: fills a database with many subjects and list entries for load tests
//! of the credit check (see `docs/performance.md`). The four lists and the demo accounts come from
//! the demo seed; subjects and entries are written in bulk, bypassing the audit trail. For a
//! benchmark database only, never a production one.
//!
//! On PostgreSQL the whole load is one transaction: `COPY` per 10,000 rows with the per-row
//! triggers of the check index's change log and the year-end target counters turned off, then
//! their rows written in one set-based pass (`counters_pg`), so the database ends as the
//! triggers would have left it (`tests/api/bench_data.rs` recounts with the triggers' own
//! functions). SQLite writes row by row with its triggers on, one transaction per 10,000 rows.

use std::io::Write;

use chrono::Duration;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::BigInt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::DbConnection;
use crate::domain::{IdNumber, Uscc};
use crate::four_lists::SubjectType;
use crate::schema::{four_list_item_versions, four_list_items, list_entries, subjects};
use crate::state::AppState;

const DIVISIONS: &[&str] = &[
    "220502", "220503", "220521", "220523", "220524", "220581", "220582",
];

/// Every 7th subject is an individual, the rest enterprises.
fn is_individual(n: u32) -> bool {
    n % 7 == 3
}

/// The code of generated subject `n` (deterministic, valid, unique).
pub fn code(n: u32) -> String {
    let div = DIVISIONS[(n as usize) % DIVISIONS.len()];
    if is_individual(n) {
        let birth = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
            + Duration::days((n / 1000) as i64 % 18_000);
        // Sequence numbers 000–999 with a check character always exist for a valid date.
        let prefix = format!("{div}{}{:03}", birth.format("%Y%m%d"), n % 1000);
        IdNumber::with_check_character(&prefix)
            .map(|c| c.as_str().to_string())
            .unwrap_or_default()
    } else {
        // 9 + 1 + division + organisation code ("B" + 8 base-31 digits of n).
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
        let mut digits = [b'0'; 8];
        let mut v = n;
        for d in digits.iter_mut().rev() {
            *d = ALPHABET[(v % 31) as usize];
            v /= 31;
        }
        let prefix = format!("91{div}B{}", String::from_utf8_lossy(&digits));
        Uscc::with_check_character(&prefix)
            .map(|c| c.as_str().to_string())
            .unwrap_or_default()
    }
}

pub struct Summary {
    pub subjects: u32,
    pub entries: u32,
    pub codes_written: usize,
}

/// Scope items (id, published version, list type, subject kinds) of the published four lists.
/// (item id, version, department, list type, subject kinds).
type Scope = (i32, i32, i32, String, Vec<SubjectType>);

fn scopes(conn: &mut DbConnection) -> QueryResult<Vec<Scope>> {
    let rows: Vec<(i32, i32, String, Option<i32>, String)> = four_list_items::table
        .inner_join(four_list_item_versions::table)
        .filter(four_list_items::status.eq("published"))
        .filter(four_list_items::kind.eq_any(["red_scope", "black_scope"]))
        .filter(four_list_item_versions::status.eq("published"))
        .select((
            four_list_items::id,
            four_list_items::department_id,
            four_list_items::kind,
            four_list_items::published_version,
            four_list_item_versions::subject_kinds,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, dept, kind, v, kinds)| {
            (
                id,
                v.unwrap_or(1),
                dept,
                if kind == "red_scope" { "red" } else { "black" }.to_string(),
                serde_json::from_str(&kinds).unwrap_or_default(),
            )
        })
        .collect())
}

pub fn generate(
    conn: &mut DbConnection,
    state: &AppState,
    n_subjects: u32,
    n_entries: u32,
    codes_out: Option<&std::path::Path>,
    seed: u64,
) -> Result<Summary, String> {
    let err = |e: diesel::result::Error| e.to_string();
    if n_subjects == 0 && n_entries > 0 {
        return Err("--entries needs at least one subject to list (--subjects 0)".into());
    }
    crate::demo::seed(conn).map_err(|e| e.to_string())?;
    crate::demo::lists::seed(conn, state).map_err(|e| e.to_string())?;
    let scopes = scopes(conn).map_err(err)?;
    if scopes.is_empty() {
        return Err("no published scope items to list subjects under".into());
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut listed: Vec<u32> = Vec::new();
    let run = |c: &mut DbConnection, rng: &mut StdRng, listed: &mut Vec<u32>| {
        fill(c, state, &scopes, n_subjects, n_entries, rng, listed)
    };
    match conn {
        // One transaction: COPY with the per-row triggers off, then their effect in one
        // set-based pass (`counters_pg`).
        DbConnection::Postgresql(_) => conn
            .transaction(|c| {
                set_bulk_triggers(pg(c)?, false)?;
                let first = run(c, &mut rng, &mut listed)?;
                if let Some(first) = first {
                    counters_pg(pg(c)?, first)?;
                }
                set_bulk_triggers(pg(c)?, true)
            })
            .map_err(err)?,
        DbConnection::Sqlite(_) => {
            run(conn, &mut rng, &mut listed).map_err(err)?;
        }
    }
    let mut written = 0;
    if let Some(path) = codes_out {
        // A realistic mix for the load script: 30% listed subjects, 60% other known subjects,
        // 10% valid codes nobody recorded.
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        );
        for i in 0..20_000u32 {
            let c = match i % 10 {
                0..=2 if !listed.is_empty() => code(listed[rng.gen_range(0..listed.len())]),
                9 => code(n_subjects + 1 + rng.gen_range(0..1_000_000)),
                _ => code(rng.gen_range(0..n_subjects)),
            };
            writeln!(f, "{c}").map_err(|e| e.to_string())?;
            written += 1;
        }
    }
    Ok(Summary {
        subjects: n_subjects,
        entries: n_entries,
        codes_written: written,
    })
}

fn pg(c: &mut DbConnection) -> QueryResult<&mut PgConnection> {
    match c {
        DbConnection::Postgresql(pg) => Ok(pg),
        DbConnection::Sqlite(_) => Err(Error::QueryBuilderError(
            "a PostgreSQL connection was expected".into(),
        )),
    }
}

/// The per-row triggers a bulk load on PostgreSQL turns off (inside its transaction, so a failed
/// load leaves them on): the check index's change log and the year-end target counters.
/// `counters_pg` does their work afterwards in one pass.
const BULK_TRIGGERS: &[(&str, &str)] = &[
    ("subjects", "subjects_check_change"),
    ("list_entries", "list_entries_check_change"),
    ("list_entries", "list_entries_counters"),
    ("population_members", "population_members_counters"),
    ("special_listed_spans", "special_listed_spans_counters"),
];

fn set_bulk_triggers(pg: &mut PgConnection, on: bool) -> QueryResult<()> {
    for (table, trigger) in BULK_TRIGGERS {
        let verb = if on { "ENABLE" } else { "DISABLE" };
        diesel::sql_query(format!("ALTER TABLE {table} {verb} TRIGGER {trigger}")).execute(pg)?;
    }
    Ok(())
}

/// What the triggers of `BULK_TRIGGERS` would have done for the generated subjects (ids from
/// `first` on) and their entries, as set-based statements: the same change-log rows in the same
/// order, the same deltas into the counters' pending tables (folded at commit by
/// `counters_fold`, as the triggers' are) and the same `population_members` rows as
/// `population_refresh` of each subject with black entries (migrations `check_changes`,
/// `target_counters`, `counter_deltas`, `draft_inserts_count_nowhere`,
/// `special_listed_counters`).
fn counters_pg(pg: &mut PgConnection, first: i32) -> QueryResult<()> {
    use diesel::sql_types::Integer;
    let started = std::time::Instant::now();
    // The check index's change log: the subjects, then the entries that are not drafts, each in
    // id order (the row-at-a-time triggers' order: all subjects were written before any entry).
    diesel::sql_query(
        "INSERT INTO check_changes (tbl, row_id) \
         SELECT 'subjects', id FROM subjects WHERE id >= $1 ORDER BY id",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    diesel::sql_query(
        "INSERT INTO check_changes (tbl, row_id) \
         SELECT 'list_entries', id FROM list_entries \
          WHERE subject_id >= $1 AND status <> 'draft' ORDER BY id",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    // In force (`in_force_entry` with sign +1): +1 on valid_from, -1 on the stop day.
    diesel::sql_query(
        "INSERT INTO in_force_pending (day, region_code, department_id, source, list_type, n) \
         SELECT v.d, e.region_code, e.department_id, e.source, e.list_type, v.n \
           FROM (SELECT *, CASE WHEN removal_date IS NOT NULL AND removal_date <= valid_until \
                                THEN removal_date ELSE valid_until + 1 END AS stop \
                   FROM list_entries WHERE subject_id >= $1 AND status <> 'draft') e \
          CROSS JOIN LATERAL (VALUES (e.valid_from, 1), (e.stop, -1)) AS v (d, n) \
          WHERE e.valid_from < e.stop",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    // The populations: `population_refresh`'s query for every generated subject at once (the
    // training and commitment dates read once per subject instead of per row).
    diesel::sql_query(
        "INSERT INTO population_members \
             (subject_id, year, population, grouping, unit, first_day, trained_on, committed_on) \
         SELECT e.subject_id, y.year, p.population, g.grouping, \
                CASE g.grouping \
                    WHEN 'city' THEN '220500' \
                    WHEN 'region' THEN e.region_code \
                    WHEN 'department' THEN e.department_id::text \
                    ELSE e.region_code || '/' || e.department_id \
                END, \
                MIN(GREATEST(e.valid_from, y.first_day)), \
                CASE p.population WHEN 'black_enterprises' THEN MIN(tr.d) END, \
                MIN(co.d) \
           FROM list_entries e \
           JOIN subjects s ON s.id = e.subject_id \
           LEFT JOIN special_rectification_items sp ON sp.item_id = e.scope_item_id \
           JOIN plan_years y ON e.valid_from <= y.last_day AND e.valid_until >= y.first_day \
           LEFT JOIN (SELECT ta.subject_id, MIN(ts.session_date) AS d \
                        FROM training_attendance ta \
                        JOIN training_sessions ts ON ts.id = ta.session_id \
                       WHERE ta.completed GROUP BY ta.subject_id) tr ON tr.subject_id = e.subject_id \
           LEFT JOIN (SELECT c.subject_id, MIN((c.signed_at + interval '8 hours')::date) AS d \
                        FROM commitments c WHERE c.purpose = 'repair' \
                       GROUP BY c.subject_id) co ON co.subject_id = e.subject_id \
          CROSS JOIN (VALUES ('black_enterprises'), ('special_objects')) AS p (population) \
          CROSS JOIN (VALUES ('city'), ('region'), ('department'), ('region_department')) \
                AS g (grouping) \
          WHERE e.subject_id >= $1 \
            AND e.list_type = 'black' \
            AND e.status <> 'draft' \
            AND e.valid_from <= e.valid_until \
            AND (e.removal_date IS NULL \
                 OR (e.removal_date > y.first_day AND e.removal_date > e.valid_from)) \
            AND ((p.population = 'black_enterprises' AND s.kind = 'enterprise') \
                 OR (p.population = 'special_objects' AND sp.item_id IS NOT NULL)) \
          GROUP BY e.subject_id, y.year, p.population, g.grouping, 5",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    // Their day counts (`population_change` with sign +1 for each member).
    diesel::sql_query(
        "INSERT INTO population_pending \
             (year, population, day, grouping, unit, members, trained, committed) \
         SELECT p.year, p.population, x.d, p.grouping, p.unit, x.m, x.tr, x.co \
           FROM population_members p \
          CROSS JOIN LATERAL (VALUES \
                (p.first_day, 1, 0, 0, true), \
                (GREATEST(p.first_day, p.trained_on), 0, 1, 0, p.trained_on IS NOT NULL), \
                (GREATEST(p.first_day, p.committed_on), 0, 0, 1, p.committed_on IS NOT NULL) \
              ) AS x (d, m, tr, co, present) \
          WHERE p.subject_id >= $1 AND x.present",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    // Section 九's stretches (`population_refresh`'s second part) and their deltas (the
    // trigger `special_listed_spans_counters`).
    diesel::sql_query(
        "INSERT INTO special_listed_spans (subject_id, grouping, unit, from_day, stop_day) \
         SELECT * FROM special_listed_stretches($1, 2147483647)",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    diesel::sql_query(
        "INSERT INTO special_listed_pending (day, grouping, unit, n) \
         SELECT v.d, s.grouping, s.unit, v.n \
           FROM special_listed_spans s \
          CROSS JOIN LATERAL (VALUES (s.from_day, 1), (s.stop_day, -1)) AS v (d, n) \
          WHERE s.subject_id >= $1",
    )
    .bind::<Integer, _>(first)
    .execute(pg)?;
    // Arms the fold into the counters at commit, as every trigger that appends a delta does.
    diesel::sql_query("SELECT counters_fold_at_commit()").execute(pg)?;
    eprintln!("counters and change log: {:.1?}", started.elapsed());
    Ok(())
}

/// Writes the subjects and entries (SQLite: a transaction per 10,000 rows; PostgreSQL: a
/// savepoint per 10,000 rows inside the caller's transaction, one `COPY` each). Returns the
/// id of the first generated subject (`None` when none was generated).
fn fill(
    conn: &mut DbConnection,
    state: &AppState,
    scopes: &[Scope],
    n_subjects: u32,
    n_entries: u32,
    rng: &mut StdRng,
    listed: &mut Vec<u32>,
) -> QueryResult<Option<i32>> {
    let started = std::time::Instant::now();
    let now = crate::db::now();
    let today = crate::entries::today();
    let mut ids: Vec<i32> = Vec::with_capacity(n_subjects as usize);
    let chunk = 10_000u32;
    let mut start = 0u32;
    while start < n_subjects {
        let end = (start + chunk).min(n_subjects);
        conn.transaction(|c| {
            let mut rows = Vec::with_capacity((end - start) as usize);
            let mut keys = Vec::with_capacity((end - start) as usize);
            for n in start..end {
                let code = code(n);
                let parsed = crate::domain::SubjectCode::parse(&code)
                    .map_err(|_| diesel::result::Error::RollbackTransaction)?;
                let key = crate::entries::lookup_key(&parsed, &state.pii);
                let (kind, uscc, enc, masked, name) = match &parsed {
                    crate::domain::SubjectCode::Uscc(u) => (
                        "enterprise",
                        Some(u.as_str().to_string()),
                        None,
                        None,
                        format!("通化市测试{n}商贸有限公司"),
                    ),
                    crate::domain::SubjectCode::IdNumber(i) => (
                        "individual",
                        None,
                        Some(state.pii.encrypt(i.as_str())),
                        Some(i.masked()),
                        format!("测试{n}"),
                    ),
                };
                keys.push(key.clone());
                rows.push((
                    subjects::kind.eq(kind),
                    subjects::lookup_key.eq(key),
                    subjects::uscc.eq(uscc),
                    subjects::id_number_enc.eq(enc),
                    subjects::id_number_masked.eq(masked),
                    subjects::name.eq(name),
                    subjects::region_code.eq(parsed.division_code().to_string()),
                    subjects::code_flagged.eq(false),
                    subjects::created_at.eq(now),
                    subjects::updated_at.eq(now),
                ));
            }
            match c {
                // One COPY per chunk. COPY draws the ids from the sequence row by row in the
                // order given, so the chunk's ids run up to the sequence's current value; the
                // count proves that no other session drew from it in between.
                DbConnection::Postgresql(pg) => {
                    let len = rows.len() as i32;
                    diesel::copy_from(subjects::table)
                        .from_insertable(rows)
                        .execute(pg)?;
                    let last: i64 = diesel::select(sql::<BigInt>(
                        "currval(pg_get_serial_sequence('subjects', 'id'))",
                    ))
                    .get_result(pg)?;
                    let last = i32::try_from(last).map_err(|_| Error::RollbackTransaction)?;
                    let first = last - len + 1;
                    let in_range: i64 = subjects::table
                        .filter(subjects::id.between(first, last))
                        .count()
                        .get_result(pg)?;
                    let ends: Vec<String> = subjects::table
                        .filter(subjects::id.eq_any([first, last]))
                        .order(subjects::id)
                        .select(subjects::lookup_key)
                        .load(pg)?;
                    let expected = [keys.first(), keys.last()];
                    if in_range != i64::from(len)
                        || ends.len() != 2
                        || ends
                            .iter()
                            .zip(expected)
                            .any(|(got, want)| Some(got) != want)
                    {
                        return Err(Error::QueryBuilderError(
                            "the subject ids of a COPY are not consecutive".into(),
                        ));
                    }
                    ids.extend(first..=last);
                }
                DbConnection::Sqlite(_) => {
                    for r in rows {
                        let id: i32 = diesel::insert_into(subjects::table)
                            .values(r)
                            .returning(subjects::id)
                            .get_result(c)?;
                        ids.push(id);
                    }
                }
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        start = end;
        eprint!("\rsubjects: {start}/{n_subjects}");
    }
    eprintln!(" in {:.1?}", started.elapsed());
    let mut start = 0u32;
    while start < n_entries {
        let end = (start + chunk).min(n_entries);
        conn.transaction(|c| {
            let mut rows = Vec::with_capacity((end - start) as usize);
            for k in start..end {
                let n = rng.gen_range(0..n_subjects);
                let kind = if is_individual(n) {
                    SubjectType::Individual
                } else {
                    SubjectType::Enterprise
                };
                // 70% black, 30% red, under a scope item for this kind of subject.
                let want = if rng.gen_bool(0.7) { "black" } else { "red" };
                let candidates: Vec<_> = scopes
                    .iter()
                    .filter(|s| s.3 == want && s.4.contains(&kind))
                    .collect();
                let Some(scope) = (!candidates.is_empty())
                    .then(|| candidates[rng.gen_range(0..candidates.len())])
                else {
                    continue;
                };
                // 80% in force, 10% expired, 10% removed.
                let roll: f64 = rng.gen();
                let determined = today - Duration::days(rng.gen_range(10..700));
                let (valid_until, removed) = if roll < 0.8 {
                    (today + Duration::days(rng.gen_range(30..900)), false)
                } else if roll < 0.9 {
                    (today - Duration::days(rng.gen_range(1..9)), false)
                } else {
                    (today + Duration::days(rng.gen_range(30..900)), true)
                };
                if roll < 0.8 {
                    listed.push(n);
                }
                let subject_id = ids[n as usize];
                rows.push((
                    list_entries::subject_id.eq(subject_id),
                    list_entries::list_type.eq(want),
                    list_entries::status.eq(if removed { "removed" } else { "published" }),
                    list_entries::department_id.eq(scope.2),
                    list_entries::region_code.eq(DIVISIONS[(n as usize) % DIVISIONS.len()]),
                    list_entries::scope_item_id.eq(scope.0),
                    list_entries::scope_item_version.eq(scope.1),
                    list_entries::subject_name.eq(format!("测试主体{n}")),
                    list_entries::document_number.eq(format!("BENCH〔2026〕{k}号")),
                    list_entries::determination_date.eq(determined),
                    list_entries::valid_from.eq(determined),
                    list_entries::valid_until.eq(valid_until.max(determined)),
                    list_entries::facts.eq("benchmark data"),
                    list_entries::source.eq(if k % 5 == 0 { "national" } else { "local" }),
                    list_entries::objection_open.eq(k % 50 == 0),
                    list_entries::removal_reason.eq(removed.then_some("revoked")),
                    list_entries::removal_date.eq(removed.then_some(today)),
                    list_entries::removed_at.eq(removed.then_some(now)),
                    list_entries::published_at.eq(now),
                    list_entries::created_at.eq(now),
                    list_entries::updated_at.eq(now),
                ));
            }
            match c {
                DbConnection::Postgresql(pg) => {
                    diesel::copy_from(list_entries::table)
                        .from_insertable(rows)
                        .execute(pg)?;
                }
                DbConnection::Sqlite(_) => {
                    for r in rows {
                        diesel::insert_into(list_entries::table)
                            .values(r)
                            .execute(c)?;
                    }
                }
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        start = end;
        eprint!("\rentries: {start}/{n_entries}");
    }
    eprintln!(" in {:.1?}", started.elapsed());
    Ok(ids.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..20_000 {
            let c = code(n);
            assert!(crate::domain::SubjectCode::parse(&c).is_ok(), "{n}: {c}");
            assert!(seen.insert(c));
        }
    }
}
