//! `credit-lists bench-data`: fills a database with many subjects and list entries for load tests
//! of the credit check (see `docs/performance.md`). The four lists and the demo accounts come from
//! the demo seed; subjects and entries are written in bulk, bypassing the audit trail. For a
//! benchmark database only, never a production one.

use std::io::Write;

use chrono::Duration;
use diesel::prelude::*;
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

/// Rows per multi-row `INSERT` on PostgreSQL (21 parameters a row at most, under its 65,535).
const ROWS_PER_INSERT: usize = 2_000;

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
    crate::demo::seed(conn).map_err(|e| e.to_string())?;
    crate::demo::lists::seed(conn, state).map_err(|e| e.to_string())?;
    let scopes = scopes(conn).map_err(err)?;
    if scopes.is_empty() {
        return Err("no published scope items to list subjects under".into());
    }
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
                // One statement per ROWS_PER_INSERT rows: each statement is a round trip.
                DbConnection::Postgresql(pg) => {
                    for (part, part_keys) in rows
                        .chunks(ROWS_PER_INSERT)
                        .zip(keys.chunks(ROWS_PER_INSERT))
                    {
                        let got: Vec<(i32, String)> = diesel::insert_into(subjects::table)
                            .values(part)
                            .returning((subjects::id, subjects::lookup_key))
                            .get_results(pg)?;
                        let by_key: std::collections::HashMap<String, i32> =
                            got.into_iter().map(|(id, k)| (k, id)).collect();
                        for k in part_keys {
                            ids.push(by_key[k]);
                        }
                    }
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
        })
        .map_err(err)?;
        start = end;
        eprint!("\rsubjects: {start}/{n_subjects}");
    }
    eprintln!();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut listed: Vec<u32> = Vec::new();
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
                    for part in rows.chunks(ROWS_PER_INSERT) {
                        diesel::insert_into(list_entries::table)
                            .values(part)
                            .execute(pg)?;
                    }
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
        })
        .map_err(err)?;
        start = end;
        eprint!("\rentries: {start}/{n_entries}");
    }
    eprintln!();
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
