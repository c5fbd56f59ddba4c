//! Property tests (proptest) of the parsers and the arithmetic we own: subject codes, the
//! working-day calendar, and spreadsheet reading. Bounded (a few thousand cases per property) so
//! they run in CI with the rest; a failing case is shrunk and saved under `proptest-regressions/`,
//! which is committed and replayed first on every run.

use chrono::{Days, NaiveDate};
use credit_lists::calendar::{
    add_working_days, is_working_day, working_days_between, Calendar, DayKind,
};
use credit_lists::domain::{IdNumber, SubjectCode, Uscc};
use credit_lists::tabular::{read_table, Format};
use proptest::prelude::*;

const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

fn uscc_body() -> impl Strategy<Value = String> {
    // Registration authority 9 (工商), type 1 (企业), a Tonghua division, nine free characters.
    (
        prop::sample::select(vec![
            "220502", "220503", "220521", "220523", "220524", "220581", "220582", "220500",
        ]),
        prop::collection::vec(
            prop::sample::select(USCC_ALPHABET.chars().collect::<Vec<_>>()),
            9,
        ),
    )
        .prop_map(|(div, rest)| format!("91{div}{}", rest.into_iter().collect::<String>()))
}

fn id_body() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["220502", "220503", "220521", "110105"]),
        0u32..30000,
        0u32..1000,
    )
        .prop_map(|(div, days, seq)| {
            let birth = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap() + Days::new(days as u64);
            format!("{div}{}{seq:03}", birth.format("%Y%m%d"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// No input makes a code parser panic; whatever parses is well-formed.
    #[test]
    fn code_parsers_never_panic(s in "\\PC{0,40}") {
        if let Ok(u) = Uscc::parse(&s) {
            prop_assert_eq!(u.as_str().len(), 18);
        }
        if let Ok(i) = IdNumber::parse(&s) {
            prop_assert_eq!(i.as_str().len(), 18);
            prop_assert!(!i.masked().contains(&i.as_str()[6..14]), "the birth date is masked");
        }
        let _ = SubjectCode::parse(&s);
    }

    /// A code with its right check character parses, in either case and with spaces around, to
    /// itself; the same code with any one character changed is refused.
    #[test]
    fn uscc_check_character_catches_every_single_substitution(
        body in uscc_body(),
        pos in 0usize..18,
        with in prop::sample::select(USCC_ALPHABET.chars().collect::<Vec<_>>()),
    ) {
        let code = Uscc::with_check_character(&body).unwrap();
        let s = code.as_str().to_string();
        let parsed = Uscc::parse(&format!("  {}  ", s.to_lowercase())).unwrap();
        prop_assert_eq!(parsed.as_str(), s.as_str());
        prop_assert_eq!(code.division_code(), &body[2..8]);
        let mut changed: Vec<char> = s.chars().collect();
        prop_assume!(changed[pos] != with);
        changed[pos] = with;
        let changed: String = changed.into_iter().collect();
        prop_assert!(Uscc::parse(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn id_number_check_character_catches_every_single_digit_change(
        body in id_body(),
        pos in 0usize..17,
        digit in 0u8..10,
    ) {
        let id = IdNumber::with_check_character(&body).unwrap();
        let s = id.as_str().to_string();
        let parsed = IdNumber::parse(&s).unwrap();
        prop_assert_eq!(parsed.as_str(), s.as_str());
        let masked = id.masked();
        prop_assert!(!masked.contains(&s[6..14]));
        let mut bytes = s.clone().into_bytes();
        prop_assume!(bytes[pos] != b'0' + digit);
        bytes[pos] = b'0' + digit;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(IdNumber::parse(&changed).is_err(), "{} accepted", changed);
    }

    /// Deadlines under any set of holidays and make-up working days: the n-th working day strictly
    /// after the start, so exactly n working days lie between; later for larger n; day 0 is the
    /// start itself when it is a working day.
    #[test]
    fn working_day_deadlines_count_exactly(
        start_offset in 0u64..3000,
        n in 0u32..60,
        exceptions in prop::collection::vec((0u64..3200, any::<bool>()), 0..80),
    ) {
        let base = NaiveDate::from_ymd_opt(2018, 1, 1).unwrap();
        let start = base + Days::new(start_offset);
        let days: Vec<(NaiveDate, DayKind)> = exceptions
            .into_iter()
            .map(|(o, holiday)| {
                let d = base + Days::new(o);
                let weekend = credit_lists::calendar::is_weekend(d);
                // Holidays fall on weekdays, make-up days on weekends (as the calendar stores them).
                (d, if holiday && !weekend { DayKind::Holiday } else if weekend { DayKind::Workday } else { DayKind::Holiday })
            })
            .collect();
        let cal = Calendar::from_days(days.iter().map(|(d, k)| (*d, *k, "测试")));
        let due = add_working_days(start, n, &cal);
        prop_assert!(is_working_day(due, &cal));
        if n == 0 {
            prop_assert!(due >= start);
            prop_assert_eq!(due == start, is_working_day(start, &cal));
        } else {
            prop_assert!(due > start);
            prop_assert_eq!(working_days_between(start, due, &cal), i64::from(n));
            prop_assert_eq!(working_days_between(due, start, &cal), -i64::from(n));
            prop_assert!(add_working_days(start, n + 1, &cal) > due);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Whatever bytes are uploaded as a spreadsheet, reading them ends in a table or an error,
    /// never a panic.
    #[test]
    fn spreadsheet_reading_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_table(&bytes, Format::Csv);
        let _ = read_table(&bytes, Format::Xlsx);
    }

    /// CSV text with any cells (quotes, commas, newlines, Chinese) reads back to the same cells.
    #[test]
    fn csv_cells_read_back(rows in prop::collection::vec(prop::collection::vec("[a-z0-9 ,\"\\n统一社会信用代码]{0,12}", 3), 1..20)) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["a", "b", "c"]).unwrap();
        for r in &rows {
            w.write_record(r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let table = read_table(&bytes, Format::Csv).unwrap();
        let expected: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| c.trim().to_string()).collect::<Vec<_>>())
            .filter(|r| r.iter().any(|c| !c.is_empty()))
            .collect();
        let got: Vec<Vec<String>> = table.rows.into_iter().map(|r| r.cells).collect();
        prop_assert_eq!(got, expected);
    }
}
